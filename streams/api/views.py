"""The dispatch API's handlers and middlewares on any :class:`aiohttp.web.Application`.

Every ``/v1`` endpoint needs ``Authorization: Bearer <token>`` (see :mod:`streams.api.auth`);
the WebSocket ``/v1/stream`` also accepts the token as the ``access_token`` query parameter,
because browsers cannot set headers on a WebSocket. Errors are JSON
``{"error": {"code": ..., "message": ...}}``. The access log (logger
``patrolstream.api.access``) records method, path without the query string, status and
duration: never tokens, never incident details.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from streams.api.auth import TokenStore, allowed, bearer_token
from streams.api.districts import hotspot_collection
from streams.api.store import RouteStore, StreamHub, etag_of
from streams.metrics import PatrolMetrics

log = logging.getLogger("patrolstream.api")
access_log = logging.getLogger("patrolstream.api.access")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


SHIFT_LABELS = ("00-08", "08-16", "16-24")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DISTRICT = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DistrictSource(Protocol):
    """What the API reads of the worker's district state (:class:`DistrictView`)."""

    def districts(self) -> list[str]: ...

    def hotspots(self, district: str) -> list[dict[str, Any]]: ...

    def probabilities(self, district: str, day: int, hour: int) -> list[dict[str, Any]] | None: ...


class Reloadable(Protocol):
    """The arrest scorer's admin hook (``streams.scoring.StreamScorer``)."""

    def reload_model(self) -> Any: ...


@dataclass
class ApiContext:
    """Everything the handlers use; one per application (``app[API]``)."""

    tokens: TokenStore
    store: RouteStore = field(default_factory=RouteStore)
    hub: StreamHub = field(default_factory=StreamHub)
    metrics: PatrolMetrics | None = None
    view: DistrictSource | None = None
    boundaries: Callable[[], dict[str, Any]] = lambda: {"type": "FeatureCollection",
                                                         "features": []}  # fmt: skip
    known_districts: frozenset[str] = frozenset()
    """Districts of the city (empty: any district id is accepted)."""
    readiness: Callable[[], Mapping[str, bool]] = lambda: {"started": True}
    scorer: Reloadable | None = None
    ws_heartbeat_s: float = 20.0


API: web.AppKey[ApiContext] = web.AppKey("patrolstream_api", ApiContext)


def error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """A JSON error response."""
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers or None)


class ApiError(Exception):
    """Raised by handlers; turned into :func:`error` by the middleware."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _ctx(request: web.Request) -> ApiContext:
    return request.app[API]


def authorize(request: web.Request, permission: str, *, query_token: bool = False) -> str:
    """The caller's role; :class:`ApiError` 401 without a known token, 403 without the
    permission. ``query_token``: also accept ``?access_token=`` (WebSocket only)."""
    ctx = _ctx(request)
    token = bearer_token(request.headers.get("Authorization"))
    if token is None and query_token:
        token = request.query.get("access_token") or None
    if token is None:
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer ...)")
    role = ctx.tokens.role_of(token)
    if role is None:
        raise ApiError(401, "unauthorized", "unknown token")
    if not allowed(role, permission):
        raise ApiError(403, "forbidden", f"role {role!r} may not {permission}")
    return role


def requires(permission: str) -> Callable[[Handler], Handler]:
    """Decorator: :func:`authorize` before the handler."""

    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            authorize(request, permission)
            return await handler(request)

        checked.__doc__ = handler.__doc__
        checked.__name__ = handler.__name__
        return checked

    return wrap


# -- middlewares ---------------------------------------------------------------------------
@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """:class:`ApiError` and aiohttp's HTTP errors as JSON bodies; 500 for the unexpected."""
    try:
        return await handler(request)
    except ApiError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        return error(exc.status, exc.code, exc.message, **headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        return error(exc.status, code.get(exc.status, "http_error"), exc.reason)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("request failed", extra={"path": request.path, "method": request.method})
        return error(500, "internal", "internal error")


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One JSON log line per request: method, path (no query string), status, milliseconds."""
    started = time.perf_counter()
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        access_log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.rel_url.path,  # never the query: it may hold access_token
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )


# -- handlers ------------------------------------------------------------------------------
def _district(value: str, ctx: ApiContext, name: str = "district") -> str:
    d = value.strip()
    if d.isdigit():
        d = d.lstrip("0") or "0"  # '008' is district 8, as the city's export writes it
    if not _DISTRICT.match(d):
        raise ApiError(400, "bad_request", f"{name}: expected a district id, got {value!r}")
    if ctx.known_districts and d not in ctx.known_districts:
        raise ApiError(404, "not_found", f"{name}: unknown district {d!r}")
    return d


def _shift(value: str) -> str:
    if value not in SHIFT_LABELS:
        raise ApiError(400, "bad_request", f"shift: expected one of {', '.join(SHIFT_LABELS)}")
    return value


def _date(value: str) -> str:
    if not _DATE.match(value):
        raise ApiError(400, "bad_request", f"date: expected YYYY-MM-DD, got {value!r}")
    return value


def _int(request: web.Request, name: str, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        raise ApiError(400, "bad_request", f"{name}: required")
    if not raw.strip().isdigit() or not lo <= int(raw) <= hi:
        raise ApiError(400, "bad_request", f"{name}: expected a whole number {lo}..{hi}")
    return int(raw)


@requires("read")
async def list_routes(request: web.Request) -> web.StreamResponse:
    """Latest version of each route, optionally filtered by district, shift and date."""
    ctx = _ctx(request)
    q = request.query
    district = _district(q["district"], ctx) if q.get("district") else None
    shift = _shift(q["shift"]) if q.get("shift") else None
    date = _date(q["date"]) if q.get("date") else None
    return web.json_response({"routes": ctx.store.query(district, shift, date)})


def _if_none_match(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _geojson(
    request: web.Request, doc: Any, etag: str, cache: str = "no-cache"
) -> web.StreamResponse:
    """``doc`` as GeoJSON with its ``ETag``, or 304 when ``If-None-Match`` names it."""
    headers = {"ETag": etag, "Cache-Control": cache}
    if _if_none_match(request.headers.get("If-None-Match"), etag):
        return web.Response(status=304, headers=headers)
    return web.json_response(doc, headers=headers, content_type="application/geo+json")


@requires("read")
async def get_route(request: web.Request) -> web.StreamResponse:
    """One district's route for a shift (latest date unless ``date``), with an ETag."""
    ctx = _ctx(request)
    district = _district(request.match_info["district"], ctx)
    shift = _shift(request.match_info["shift"])
    date = _date(request.query["date"]) if request.query.get("date") else None
    hit = ctx.store.latest_with_etag(district, shift, date)
    if hit is None:
        when = f" on {date}" if date else ""
        raise ApiError(404, "not_found", f"no route of district {district} shift {shift}{when}")
    doc, etag = hit
    return _geojson(request, doc, etag)


@requires("read")
async def get_hotspots(request: web.Request) -> web.StreamResponse:
    """Hotspot, predicted and way-point features of this worker's districts."""
    ctx = _ctx(request)
    view = ctx.view
    wanted = request.query.get("district")
    district = _district(wanted, ctx) if wanted else None
    features: list[dict[str, Any]] = []
    if view is not None:
        for d in [district] if district is not None else view.districts():
            features.extend(view.hotspots(d))
    doc = hotspot_collection(features)
    return _geojson(request, doc, etag_of(doc))


@requires("read")
async def get_probabilities(request: web.Request) -> web.StreamResponse:
    """Algorithm 1's P(day, hour, cluster) of a district (day 0 = Monday)."""
    ctx = _ctx(request)
    district = _district(request.match_info["district"], ctx)
    day = _int(request, "day", 0, 6)
    hour = _int(request, "hour", 0, 23)
    rows = None if ctx.view is None else ctx.view.probabilities(district, day, hour)
    if rows is None:
        raise ApiError(404, "not_found", f"district {district} has no clusters on this worker")
    return web.json_response({"district": district, "day": day, "hour": hour, "clusters": rows})


@requires("read")
async def get_boundaries(request: web.Request) -> web.StreamResponse:
    """District boundaries (GeoJSON, ``properties.district``)."""
    doc = _ctx(request).boundaries()
    return _geojson(request, doc, etag_of(doc), cache="max-age=3600")


async def stream(request: web.Request) -> web.StreamResponse:
    """WebSocket: ``{"type": "route", "route": ...}`` for every revised route."""
    ctx = _ctx(request)
    authorize(request, "subscribe", query_token=True)
    districts = {_district(d, ctx) for d in request.query.getall("district", []) if d}
    ws = web.WebSocketResponse(heartbeat=ctx.ws_heartbeat_s, max_msg_size=4096)
    await ws.prepare(request)
    sub = ctx.hub.subscribe(districts)
    await ws.send_json({"type": "hello", "districts": sorted(districts)})

    async def reader() -> None:  # incoming messages are ignored; this notices the close
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break

    reading = asyncio.create_task(reader())
    try:
        while not ws.closed:
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait({getter, reading}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            if sub.dropped:
                await ws.close(code=1008, message=b"too slow")
                break
            await ws.send_str(getter.result())
    finally:
        ctx.hub.unsubscribe(sub)
        reading.cancel()
        await ws.close()
    return ws


@requires("reload")
async def reload_model(request: web.Request) -> web.StreamResponse:
    """Reload the arrest model (admin) from its configured path; the body is ignored."""
    await request.read()  # a body over client_max_size is refused here (413)
    scorer = _ctx(request).scorer
    if scorer is None:
        raise ApiError(503, "unavailable", "no arrest scorer runs in this worker")
    result = scorer.reload_model()
    if inspect.isawaitable(result):
        result = await result
    body = result if isinstance(result, dict) else {"ok": True}
    ok = bool(body.get("ok", True))
    if not ok:
        return error(500, "reload_failed", str(body.get("error") or "reload failed"))
    m = _ctx(request).metrics
    if m is not None and body.get("version"):
        m.set_arrest_model(m.arrest_model_labels.get("name", "arrest"), str(body["version"]))
    return web.json_response(body, dumps=_dumps)


async def healthz(request: web.Request) -> web.StreamResponse:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.StreamResponse:
    """Readiness: partitions assigned and tables recovered."""
    checks = dict(_ctx(request).readiness())
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus text exposition of this worker's metrics."""
    m = _ctx(request).metrics
    if m is None:
        return web.Response(text="", content_type="text/plain")
    body, ctype = m.render()
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = ctype
    return resp


@requires("read")
async def openapi(request: web.Request) -> web.StreamResponse:
    """This API's OpenAPI 3.1 document."""
    from streams.api.openapi import openapi_document

    return web.json_response(openapi_document())


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/healthz", healthz),
    ("GET", "/readyz", readyz),
    ("GET", "/metrics", metrics),
    ("GET", "/v1/openapi.json", openapi),
    ("GET", "/v1/routes", list_routes),
    ("GET", "/v1/routes/{district}/{shift}", get_route),
    ("GET", "/v1/hotspots", get_hotspots),
    ("GET", "/v1/districts/{district}/probabilities", get_probabilities),
    ("GET", "/v1/boundaries", get_boundaries),
    ("GET", "/v1/stream", stream),
    ("POST", "/v1/admin/reload-model", reload_model),
)
"""Method, path and handler of every endpoint (the OpenAPI test checks they are documented)."""


def setup_api(app: web.Application, ctx: ApiContext) -> None:
    """Install the context, middlewares and routes on ``app`` (before it starts)."""
    app[API] = ctx
    app.middlewares.append(access_log_middleware)
    app.middlewares.append(errors_middleware)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
