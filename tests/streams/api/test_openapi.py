"""The OpenAPI document: valid OpenAPI 3.1, and every route of the app documented."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openapi_spec_validator import validate

from streams.api.openapi import openapi_document
from streams.api.views import ROUTES


def not_api(path: str) -> bool:
    """The map page and its assets (streams.web.map), and the worker's stats page."""
    return path in ("/", "/map", "/patrol/stats") or path.startswith("/static")


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_api_route_is_documented_and_nothing_else() -> None:
    assert documented(openapi_document()) == {(m, p) for m, p, _ in ROUTES}


def test_the_worker_app_serves_exactly_the_documented_routes(
    offline_worker: Callable[..., Any],
) -> None:
    app = offline_worker()
    served = {
        (r.method, r.resource.canonical)
        for r in app.api.web_app.router.routes()
        if r.method not in ("HEAD", "OPTIONS") and r.resource is not None
    }
    api = {(m, p) for m, p in served if not not_api(p)}
    assert api == documented(openapi_document())
    assert not any(p.startswith(("/table", "/router", "/graph")) for _, p in served)


def test_public_and_protected_operations() -> None:
    doc = openapi_document()
    public = {
        p for p, ops in doc["paths"].items() for op in ops.values() if op.get("security") == []
    }
    assert public == {"/healthz", "/readyz", "/metrics"}
    assert doc["security"] == [{"bearerAuth": []}]
    stream = doc["paths"]["/v1/stream"]["get"]
    assert {"accessToken": []} in stream["security"]
