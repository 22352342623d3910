"""The dispatch API of a running worker on the real broker: auth, every endpoint's shape, ETags,
metrics, and a WebSocket receiving a revised route within a second of the incident that
caused it."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from openapi_spec_validator import validate

from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.policy import EmissionPolicy
from patrol.routes import validate_route_geojson
from simulators.settings import Settings

DISPATCH, ADMIN = "dispatch-token-0123", "admin-token-4567"
SETTINGS = {"min_incidents": 50, "replan_every": 25, "material_m": 50.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def poll(
    get: Callable[[], Any], ok: Callable[[Any], bool], what: str, worker: Any, timeout_s: float
) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            last = await get()
            if ok(last):
                return last
        except aiohttp.ClientError as exc:
            last = exc
        assert worker.alive(), worker.tail()
        await asyncio.sleep(0.2)
    pytest.fail(f"{what} never happened (last: {last!r}):\n{worker.tail()}")


def triggering_index(incidents: list[Any], chicago: CityProfile) -> int:
    """The last incident whose processing emits a route (an independent embedded policy)."""
    s = Settings().override(**SETTINGS)
    policy = EmissionPolicy(s.make_engine(chicago), s.policy_config())
    last = -1
    for i, inc in enumerate(incidents):
        if policy.process(inc).routes:
            last = i
    return last


@pytest.mark.kafka
async def test_the_dispatch_api_of_a_running_worker(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    slicer: Callable[[set[str], int], str],
    chicago: CityProfile,
) -> None:
    bootstrap = require_broker()
    incidents = sorted(
        read_csv(io.StringIO(slicer({"008"}, 5)), chicago).incidents, key=lambda i: i.occurred_at
    )
    j = triggering_index(incidents, chicago)
    assert j > 100, "the sample must hold a route-emitting incident after the warm-up"
    port = free_port()
    worker = await worker_factory(
        bootstrap,
        web_port=port,
        api_tokens=f"{DISPATCH}=dispatch,{ADMIN}=admin",
        arrest_model="none",
        **SETTINGS,
    ).start()
    base = f"http://127.0.0.1:{port}"

    def message(inc: Any) -> tuple[bytes, bytes]:
        return inc.district.encode(), json.dumps(inc.to_event()).encode()

    async with aiohttp.ClientSession() as http:

        async def status(path: str, **kw: Any) -> int:
            async with http.get(base + path, **kw) as r:
                return r.status

        async def get(
            path: str, token: str = DISPATCH, headers: dict[str, str] | None = None
        ) -> tuple[int, Any, Any]:
            async with http.get(base + path, headers={**auth(token), **(headers or {})}) as r:
                body = await r.json() if r.status != 304 else None
                return r.status, r.headers, body

        # liveness at once; readiness once partitions are assigned and tables recovered
        await poll(lambda: status("/healthz"), lambda s: s == 200, "healthz", worker, 60)
        await poll(lambda: status("/readyz"), lambda s: s == 200, "readyz", worker, 60)

        await produce(bootstrap, worker.topics.incidents, [message(i) for i in incidents[:j]])
        worker.wait_for_stats(lambda s: sum(s["outcomes"].values()) == j, timeout_s=60)

        # -- auth: no token, unknown token, wrong role ---------------------------------------
        for path in ("/v1/routes", "/v1/hotspots", "/v1/boundaries", "/v1/openapi.json"):
            async with http.get(base + path) as r:
                assert r.status == 401 and r.headers["WWW-Authenticate"] == "Bearer"
                assert (await r.json())["error"]["code"] == "unauthorized"
            assert (await get(path, token="not-a-token-at-all"))[0] == 401
        async with http.post(base + "/v1/admin/reload-model", headers=auth(DISPATCH)) as r:
            assert r.status == 403
            assert (await r.json())["error"] == {
                "code": "forbidden",
                "message": "role 'dispatch' may not reload",
            }
        async with http.post(base + "/v1/admin/reload-model", headers=auth(ADMIN)) as r:
            assert r.status == 503  # arrest_model=none: no scorer in this worker
            assert (await r.json())["error"]["code"] == "unavailable"
        async with http.get(base + "/v1/stream") as r:  # a WebSocket upgrade needs a token too
            assert r.status == 401
        big = b"x" * (Settings().api_max_body_bytes + 1)
        async with http.post(base + "/v1/admin/reload-model", headers=auth(ADMIN), data=big) as r:
            assert r.status == 413 and (await r.json())["error"]["code"] == "payload_too_large"

        # -- routes ------------------------------------------------------------------------
        code, _, body = await get("/v1/routes?district=8")
        assert code == 200 and body["routes"], body
        for doc in body["routes"]:
            assert validate_route_geojson(doc) == [] and doc["district"] == "8"
        slots = [(d["district"], d["date"], d["shift"], d["unit"]) for d in body["routes"]]
        assert len(slots) == len(set(slots))  # the latest version of each slot only
        latest = max(body["routes"], key=lambda d: (d["date"], d["shift"]))
        code, _, only = await get(f"/v1/routes?district=8&shift={latest['shift']}")
        assert {d["shift"] for d in only["routes"]} == {latest["shift"]}
        code, headers, doc = await get(f"/v1/routes/8/{latest['shift']}")
        assert code == 200 and doc["route_id"] == latest["route_id"]
        assert headers["Content-Type"].startswith("application/geo+json")
        etag = headers["ETag"]
        code, again, _ = await get(
            f"/v1/routes/8/{latest['shift']}", headers={"If-None-Match": etag}
        )
        assert code == 304 and again["ETag"] == etag
        assert (await get("/v1/routes/8/99-99"))[0] == 400
        assert (await get("/v1/routes/8/08-16?date=1999-01-01"))[0] == 404
        assert (await get("/v1/routes?district=999"))[0] == 404

        # -- hotspots, probabilities, boundaries, openapi --------------------------------------
        code, _, hot = await get("/v1/hotspots?district=8")
        assert code == 200 and hot["type"] == "FeatureCollection" and hot["features"]
        kinds = {f["properties"]["kind"] for f in hot["features"]}
        assert kinds == {"hotspot", "predicted", "waypoint", "forecast"}  # served forecaster on
        for f in hot["features"]:
            lon, lat = f["geometry"]["coordinates"]
            assert chicago.bbox.contains(lat, lon)
            assert 0.0 <= f["properties"]["risk"] <= 1.0 and f["properties"]["district"] == "8"
        risks = {f["properties"]["cluster"]: f["properties"]["risk"] for f in hot["features"]
                 if f["properties"]["kind"] != "forecast"}  # fmt: skip
        assert sum(risks.values()) == pytest.approx(1.0, abs=1e-4)
        friday = incidents[0].occurred_at.astimezone(chicago.zone)  # 2016-09-01 is a Thursday
        code, _, prob = await get(
            f"/v1/districts/8/probabilities?day={friday.weekday()}&hour={friday.hour}"
        )
        assert code == 200 and prob["district"] == "8" and prob["day"] == friday.weekday()
        assert [c["cluster"] for c in prob["clusters"]] == sorted(risks)
        assert sum(c["probability"] for c in prob["clusters"]) == pytest.approx(1.0, abs=1e-4)
        assert (await get("/v1/districts/8/probabilities?day=7&hour=1"))[0] == 400
        assert (await get("/v1/districts/8/probabilities?hour=1"))[0] == 400
        assert (await get("/v1/districts/3/probabilities?day=1&hour=1"))[0] == 404  # no state
        code, _, geo = await get("/v1/boundaries")
        assert code == 200 and len(geo["features"]) == 23
        assert "8" in {f["properties"]["district"] for f in geo["features"]}
        code, _, spec = await get("/v1/openapi.json")
        validate(spec)

        # -- the WebSocket: a revised route within a second of its incident -------------------
        ws_url = f"{base}/v1/stream?district=8&district=11&access_token={DISPATCH}"
        async with http.ws_connect(ws_url) as ws:
            hello = await ws.receive_json(timeout=5)
            assert hello == {"type": "hello", "districts": ["11", "8"]}
            sent_at = time.monotonic()
            await produce(bootstrap, worker.topics.incidents, [message(incidents[j])])
            msg = await ws.receive_json(timeout=10)
            elapsed = time.monotonic() - sent_at
            # a route another worker emitted (district 11 is not on this one): read from the
            # routes topic, stored and pushed too
            other = {**msg["route"], "district": "11", "version": 1,
                     "route_id": msg["route"]["route_id"].replace("8/", "11/", 1)}  # fmt: skip
            await produce(bootstrap, worker.topics.routes, [(b"11/x", json.dumps(other).encode())])
            pushed = await ws.receive_json(timeout=10)
        assert pushed == {"type": "route", "route": other}
        code, _, listed = await get("/v1/routes?district=11")
        assert listed["routes"] == [other]
        assert msg["type"] == "route" and msg["route"]["district"] == "8"
        assert validate_route_geojson(msg["route"]) == []
        assert elapsed < 1.0, f"route pushed {elapsed:.3f} s after the incident was produced"
        print(f"incident produced -> route on the WebSocket: {elapsed * 1000:.0f} ms")
        code, _, now = await get(f"/v1/routes/8/{msg['route']['shift']}")
        assert now["version"] == msg["route"]["version"]  # the store has the pushed version

        # -- metrics (no auth) ----------------------------------------------------------------
        async with http.get(base + "/metrics") as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
            text = await r.text()
        samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#")
        assert float(samples["patrolstream_incidents_consumed_total"]) == j + 1
        assert float(samples["patrolstream_processing_latency_seconds_count"]) == j + 1
        emitted = float(samples['patrolstream_routes_emitted_total{district="8"}'])
        assert emitted >= len(body["routes"]) + 1
        assert 'patrolstream_route_age_seconds{district="8"}' in samples
        assert any(k.startswith("patrolstream_consumer_lag{") for k in samples)
        assert "patrolstream_learner_update_seconds_count" in samples

    # the access log has paths, never the query string or the token
    lines = [r for r in worker.logs() if r.get("logger") == "patrolstream.api.access"]
    assert any(r["path"] == "/v1/stream" for r in lines)
    log_text = worker.log_path.read_text()
    assert DISPATCH not in log_text and ADMIN not in log_text


@pytest.mark.kafka
async def test_an_admin_reloads_the_arrest_model_of_a_scoring_worker(
    require_broker: Callable[[], str], worker_factory: Callable[..., Any]
) -> None:
    from models.arrest import DEFAULT_MODEL

    bootstrap = require_broker()
    card = json.loads(DEFAULT_MODEL.with_suffix(".card.json").read_text())
    port = free_port()
    worker = await worker_factory(
        bootstrap, web_port=port, api_tokens=f"{DISPATCH}=dispatch,{ADMIN}=admin"
    ).start()
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:

        async def metrics() -> str:
            async with http.get(base + "/metrics") as r:
                return await r.text()

        text = await poll(
            metrics, lambda t: "patrolstream_arrest_model_info{" in t, "model info", worker, 60
        )
        prefix = "patrolstream_arrest_model_info{"
        info = next(line for line in text.splitlines() if line.startswith(prefix))
        assert f'name="{DEFAULT_MODEL.name}"' in info
        async with http.post(base + "/v1/admin/reload-model", headers=auth(DISPATCH)) as r:
            assert r.status == 403
        async with http.post(base + "/v1/admin/reload-model", headers=auth(ADMIN)) as r:
            body = await r.json()
            assert r.status == 200 and body["ok"] is True, body
        assert body["version"] == body["previous"]  # the same file: reloaded, same version
        assert body["version"] == card["version"] and f'version="{card["version"]}"' in info
