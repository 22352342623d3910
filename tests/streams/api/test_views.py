"""The API's handlers on an offline worker (real engine and policy, fake topics, no broker)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from shapely.geometry import Point, shape

from patrol.incidents.profile import CityProfile
from patrol.routes import validate_route_geojson

DISPATCH = {"Authorization": "Bearer dispatch-token-0123"}
ADMIN = {"Authorization": "Bearer admin-token-4567"}


async def fed(app: Any, incidents: list[Any], message: Any) -> Any:
    for i, inc in enumerate(incidents):
        await app.handle_valid(message(b"8", json.dumps(inc.to_event()).encode(), offset=i))
    return app


async def test_routes_hotspots_and_probabilities_from_the_worker_state(
    offline_worker: Callable[..., Any],
    district8: list[Any],
    fake_message: Any,
    chicago: CityProfile,
) -> None:
    app = await fed(offline_worker(half_life_days=1e9), district8, fake_message)
    emitted = [json.loads(v) for _, v in app.routes_topic.sent]
    assert emitted
    state_before = json.dumps(app.engine.to_dict(), sort_keys=True)
    async with TestClient(TestServer(app.api.web_app)) as c:
        r = await c.get("/v1/routes", headers=DISPATCH)
        routes = (await r.json())["routes"]
        latest: dict[tuple[str, str, str, int], dict[str, Any]] = {}
        for doc in emitted:  # the latest version of each slot, as emitted
            latest[(doc["district"], doc["date"], doc["shift"], doc["unit"])] = doc
        assert sorted(routes, key=lambda d: d["route_id"]) == sorted(
            latest.values(), key=lambda d: d["route_id"]
        )
        assert all(validate_route_geojson(d) == [] for d in routes)

        r = await c.get("/v1/hotspots?district=008", headers=DISPATCH)  # as the export writes it
        hot = await r.json()
        polygon = next(
            shape(f["geometry"])
            for f in json.loads(chicago.districts.geojson.read_text())["features"]
            if f["properties"]["DIST_NUM"] == "8"
        )
        for f in hot["features"]:
            lon, lat = f["geometry"]["coordinates"]
            assert polygon.buffer(0.002).contains(Point(lon, lat)), f  # within ~200 m
        clusters = {f["properties"]["cluster"] for f in hot["features"]
                    if f["properties"]["kind"] != "forecast"}  # fmt: skip

        # the served forecaster's cells: ranked, each holding district 8 incidents before the
        # forecast's start (its cells are the district's own), inside the district
        cells = [f for f in hot["features"] if f["properties"]["kind"] == "forecast"]
        assert 1 <= len(cells) <= 10
        props = [f["properties"] for f in cells]
        assert [p["rank"] for p in props] == list(range(1, len(cells) + 1))
        assert [p["expected"] for p in props] == sorted((p["expected"] for p in props),
                                                        reverse=True)  # fmt: skip
        assert props[0]["risk"] == 1.0 and all(0 < p["risk"] <= 1 for p in props)
        start = datetime.fromisoformat(props[0]["from"]).replace(tzinfo=chicago.zone)
        seen = [chicago.projection.forward(i.latitude, i.longitude) for i in district8
                if i.occurred_at < start]  # fmt: skip
        for f in cells:
            lon, lat = f["geometry"]["coordinates"]
            cx, cy = chicago.projection.forward(lat, lon)
            half = f["properties"]["cell_m"] / 2 + 1.0
            assert any(abs(x - cx) <= half and abs(y - cy) <= half for x, y in seen), f

        # P(day, hour, cluster) against a plain count (half-life ~ infinite): incidents of the
        # slot whose 50 m cell centre is nearest to each cluster centroid / all of the slot
        clustering = app.engine.districts["8"].model.clusterer.clustering
        first = district8[0].occurred_at.astimezone(chicago.zone)
        day, hour = first.weekday(), first.hour
        counts = np.zeros(clustering.k)
        for inc in district8:
            local = inc.occurred_at.astimezone(chicago.zone)
            if (local.weekday(), local.hour) != (day, hour):
                continue
            x, y = chicago.projection.forward(inc.latitude, inc.longitude)
            cx, cy = (math.floor(x / 50) + 0.5) * 50, (math.floor(y / 50) + 0.5) * 50
            counts[int(np.argmin(np.hypot(*(clustering.centroids - [cx, cy]).T)))] += 1
        r = await c.get(f"/v1/districts/8/probabilities?day={day}&hour={hour}", headers=DISPATCH)
        prob = await r.json()
        assert {c["cluster"] for c in prob["clusters"]} == clusters == set(range(clustering.k))
        got = [c["probability"] for c in prob["clusters"]]
        assert got == pytest.approx((counts / counts.sum()).tolist(), abs=1e-5)
    assert json.dumps(app.engine.to_dict(), sort_keys=True) == state_before  # read-only


async def test_websocket_pushes_each_route_to_its_districts_subscribers(
    offline_worker: Callable[..., Any], district8: list[Any], fake_message: Any
) -> None:
    app = offline_worker()
    half = len(district8) // 2
    await fed(app, district8[:half], fake_message)
    async with TestClient(TestServer(app.api.web_app)) as c:
        eight = await c.ws_connect("/v1/stream?district=8&access_token=dispatch-token-0123")
        eleven = await c.ws_connect("/v1/stream?district=11", headers=DISPATCH)
        everything = await c.ws_connect("/v1/stream", headers=ADMIN)
        for ws in (eight, eleven, everything):
            assert (await ws.receive_json(timeout=2))["type"] == "hello"
        before = len(app.routes_topic.sent)
        for i, inc in enumerate(district8[half:], start=half):
            await app.handle_valid(
                fake_message(b"8", json.dumps(inc.to_event()).encode(), offset=i)
            )
        new = [json.loads(v) for _, v in app.routes_topic.sent[before:]]
        assert new
        for ws in (eight, everything):
            got = [await ws.receive_json(timeout=2) for _ in new]
            assert got == [{"type": "route", "route": doc} for doc in new]
        with pytest.raises(TimeoutError):
            await eleven.receive_json(timeout=0.3)
        for ws in (eight, eleven, everything):
            await ws.close()
        assert not app.api.context.hub.subscribers

        # the query token is for the WebSocket only; a wrong token gets no upgrade
        r = await c.get("/v1/routes?access_token=dispatch-token-0123")
        assert r.status == 401
        r = await c.get("/v1/stream?access_token=wrong-token-000")
        assert r.status == 401


async def test_errors_readiness_reload_and_access_log(
    offline_worker: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    app = offline_worker()
    calls: list[int] = []

    class Scorer:
        def reload_model(self) -> dict[str, Any]:
            calls.append(1)
            ok = len(calls) == 1
            return {"ok": ok, "version": "v9", "error": None if ok else "bad checksum"}

    app.api.context.scorer = Scorer()
    caplog.set_level(logging.INFO, logger="patrolstream.api.access")
    async with TestClient(TestServer(app.api.web_app)) as c:
        r = await c.get("/v1/nothing-here", headers=DISPATCH)
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
        r = await c.get("/readyz")
        body = await r.json()
        assert r.status == 503 and body["checks"]["assigned"] is False
        r = await c.post("/v1/admin/reload-model", headers=ADMIN)
        assert r.status == 200 and (await r.json())["version"] == "v9"
        r = await c.get("/metrics")
        assert 'patrolstream_arrest_model_info{name="arrest",version="v9"} 1.0' in await r.text()
        r = await c.post("/v1/admin/reload-model", headers=ADMIN)
        assert r.status == 500 and (await r.json())["error"] == {
            "code": "reload_failed", "message": "bad checksum"}  # fmt: skip
        r = await c.get("/v1/routes?district=8&date=2016-9-1", headers=DISPATCH)
        assert r.status == 400 and "date" in (await r.json())["error"]["message"]
        r = await c.get("/v1/routes?district=8&shift=08-16", headers=DISPATCH)
        assert r.status == 200 and (await r.json()) == {"routes": []}
    paths = [rec.path for rec in caplog.records if rec.name == "patrolstream.api.access"]
    assert "/v1/routes" in paths and not any("?" in p for p in paths)
