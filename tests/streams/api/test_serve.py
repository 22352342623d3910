"""``python -m streams.api.serve``: the API from the routes topic alone, on the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from simulators.settings import Settings
from streams.api.auth import TokenStore
from streams.topics import ensure_topics

TOKEN = "serve-token-0001"


def route(district: str, version: int) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [], "district": district, "shift": "08-16",
            "date": "2016-09-05", "unit": 1, "version": version,
            "route_id": f"{district}/2016-09-05/08-16/1"}  # fmt: skip


@pytest.mark.kafka
async def test_serve_reads_routes_from_the_topic(
    require_broker: Callable[[], str], produce: Callable[..., Any]
) -> None:
    from streams.api.serve import build_app

    bootstrap = require_broker()
    topic = f"t{uuid.uuid4().hex[:10]}.patrol.routes.v1"
    await ensure_topics(bootstrap, (topic,), partitions=2)
    await produce(bootstrap, topic, [(b"8/08-16", json.dumps(route("8", 1)).encode())])
    settings = Settings(broker=f"kafka://{bootstrap}")
    app = build_app(settings, TokenStore.from_mapping({TOKEN: "dispatch"}), topic=topic)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with TestClient(TestServer(app)) as c:
        for _ in range(100):
            if (await c.get("/readyz")).status == 200:
                break
            await asyncio.sleep(0.1)
        r = await c.get("/v1/routes", headers=headers)
        assert (await r.json())["routes"] == [route("8", 1)]  # from before the start
        ws = await c.ws_connect(f"/v1/stream?district=9&access_token={TOKEN}")
        assert (await ws.receive_json(timeout=5))["type"] == "hello"
        await produce(bootstrap, topic, [
            (b"8/08-16", json.dumps(route("8", 2)).encode()),
            (b"9/08-16", json.dumps(route("9", 1)).encode()),
            (b"9/08-16", json.dumps(route("9", 1)).encode()),  # redelivered: pushed once
            (b"9/08-16", b"{not json"),
        ])  # fmt: skip
        assert await ws.receive_json(timeout=5) == {"type": "route", "route": route("9", 1)}
        with pytest.raises(TimeoutError):
            await ws.receive_json(timeout=1.0)
        await ws.close()
        r = await c.get("/v1/routes", headers=headers)
        assert [(d["district"], d["version"]) for d in (await r.json())["routes"]] == [
            ("8", 2), ("9", 1)]  # fmt: skip
        assert (await c.get("/v1/hotspots", headers=headers)).status == 200
        r = await c.get("/v1/districts/8/probabilities?day=0&hour=0", headers=headers)
        assert r.status == 404
        assert (await c.get("/v1/routes")).status == 401
