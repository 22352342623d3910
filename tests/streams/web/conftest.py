"""Fixtures of the map page tests: headless Chromium (Debian's package, driven by Playwright),
a recorded-routes API server, and screenshots kept as test artifacts.

The browser is the system one (``/usr/bin/chromium``, or ``$PATROLSTREAM_CHROMIUM``); no
browser is ever downloaded. Missing browser or Playwright fails the test with the install line,
never skips it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from streams.web.map import add_map_routes

ROOT = Path(__file__).resolve().parents[3]
BOUNDARIES = ROOT / "patrol" / "cities" / "data" / "chicago_police_districts.geojson"
INSTALL_HINT = (
    "apt-get install -y --no-install-recommends chromium && pip install playwright "
    "(never `playwright install`: the tests use the system browser)"
)
TOKEN = "dispatch-secret-7f3a"


def chromium_path() -> str:
    """The system Chromium; fails the test when it is missing."""
    path = os.environ.get("PATROLSTREAM_CHROMIUM") or shutil.which("chromium")
    if not path or not Path(path).exists():
        pytest.fail(f"no system Chromium (/usr/bin/chromium); install: {INSTALL_HINT}", False)
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium of the system, driven by Playwright."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail(f"Playwright for Python is not installed; install: {INSTALL_HINT}", False)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
def save_artifact(tmp_path: Path) -> Callable[[Path], Path]:
    """``save_artifact(path)``: keep a file under ``$PATROLSTREAM_ARTIFACTS`` too (CI)."""

    def save(path: Path) -> Path:
        folder = os.environ.get("PATROLSTREAM_ARTIFACTS")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            return Path(shutil.copy2(path, Path(folder) / path.name))
        return path

    return save


@dataclass
class PageWatch:
    """What a page did: requests, WebSocket URLs, console errors and uncaught exceptions."""

    requests: list[str] = field(default_factory=list)
    request_headers: list[dict[str, str]] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        def on_request(req: Any) -> None:
            self.requests.append(req.url)
            self.request_headers.append(dict(req.headers))

        def on_response(resp: Any) -> None:
            if resp.status >= 400:
                self.errors.append(f"HTTP {resp.status}: {resp.url}")

        page.on("request", on_request)
        page.on("response", on_response)
        page.on("websocket", lambda ws: self.websockets.append(ws.url))
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )


@pytest.fixture
def watch() -> Callable[[Any], PageWatch]:
    """``watch(page)`` -> a :class:`PageWatch` recording what the page does."""

    def attach(page: Any) -> PageWatch:
        w = PageWatch()
        w.attach(page)
        return w

    return attach


async def wait_js(page: Any, expression: str, arg: Any = None, timeout_s: float = 15.0) -> Any:
    """Evaluate ``expression`` (a JS function of ``arg``) until it returns something truthy.

    Playwright's ``wait_for_function`` polls with ``eval`` inside the page, which the map
    page's Content-Security-Policy forbids; ``page.evaluate`` goes through the DevTools
    protocol and is not subject to it.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    last: Any = None
    while loop.time() < deadline:
        last = await page.evaluate(expression, arg)
        if last:
            return last
        await asyncio.sleep(0.1)
    status = await page.evaluate("() => document.getElementById('status').outerHTML")
    pytest.fail(f"not within {timeout_s} s: {expression} (last {last!r}; {status})")


@pytest.fixture(name="wait_js")
def wait_js_fixture() -> Callable[..., Any]:
    """The :func:`wait_js` helper (conftest modules are not importable by tests)."""
    return wait_js


# --------------------------------------------------------------------------------------
# a small API server over recorded routes (the contract of the worker's /v1 API)
# --------------------------------------------------------------------------------------


@dataclass
class RecordedApi:
    """The ``/v1`` endpoints the map page reads, over routes given by the test."""

    routes: list[dict[str, Any]]
    token: str = TOKEN
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    url: str = ""

    def latest(self) -> list[dict[str, Any]]:
        """The latest version of every (district, date, shift)."""
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in self.routes:
            key = (r["district"], r["date"], r["shift"])
            if key not in out or r["version"] >= out[key]["version"]:
                out[key] = r
        return list(out.values())

    def hotspots(self, district: str | None = None) -> dict[str, Any]:
        """The current routes' way-points as hotspot points (enough for drawing)."""
        feats = []
        for r in self.latest():
            if district and r["district"] != district:
                continue
            for f in r["features"][1:]:
                p = f["properties"]
                kind = "predicted" if p.get("rule") == "prediction" else "hotspot"
                props = {"district": r["district"], "cluster": p["cluster"], "kind": kind}
                feats.append({"type": "Feature", "geometry": f["geometry"],
                              "properties": {**props, "risk": 0.5}})  # fmt: skip
        return {"type": "FeatureCollection", "features": feats}

    async def push(self, route: dict[str, Any]) -> int:
        """Record ``route`` and send it to every WebSocket subscriber; how many got it."""
        self.routes.append(route)
        sent = 0
        for ws in list(self.sockets):
            await ws.send_str(json.dumps({"type": "route", "route": route}))
            sent += 1
        return sent

    def app(self) -> web.Application:
        @web.middleware
        async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path.startswith("/v1/"):
                given = request.headers.get("Authorization", "").removeprefix("Bearer ")
                if request.path == "/v1/stream":
                    given = request.query.get("access_token", "")
                if given != self.token:
                    return web.json_response({"error": "unauthorized"}, status=401)
            return await handler(request)

        async def routes(request: web.Request) -> web.Response:
            return web.json_response({"routes": self.latest()})

        async def hotspots(request: web.Request) -> web.Response:
            return web.json_response(self.hotspots(request.query.get("district")))

        async def boundaries(request: web.Request) -> web.Response:
            return web.Response(body=BOUNDARIES.read_bytes(), content_type="application/json")

        async def stream(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(heartbeat=20)
            await ws.prepare(request)
            self.sockets.add(ws)
            try:
                async for msg in ws:
                    if msg.type == WSMsgType.ERROR:
                        break
            finally:
                self.sockets.discard(ws)
            return ws

        app = web.Application(middlewares=[auth])
        app.router.add_get("/v1/routes", routes)
        app.router.add_get("/v1/hotspots", hotspots)
        app.router.add_get("/v1/boundaries", boundaries)
        app.router.add_get("/v1/stream", stream)
        add_map_routes(app, tiles="", attribution="")
        return app

    async def wait_for_subscribers(self, n: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until ``n`` WebSocket clients are connected."""
        for _ in range(int(timeout_s / 0.05)):
            if len(self.sockets) >= n:
                return
            await asyncio.sleep(0.05)
        pytest.fail(f"{len(self.sockets)} WebSocket subscribers after {timeout_s} s, wanted {n}")


@pytest.fixture(scope="session")
def recorded_routes(slicer: Callable[[set[str], int], str], chicago: Any) -> list[dict[str, Any]]:
    """Routes the embedded mode emits for 4 days of real incidents of districts 8 and 11."""
    from patrol.incidents.parse import read_csv
    from simulators.embedded import replay_stream
    from simulators.settings import Settings

    incidents = sorted(
        read_csv(io.StringIO(slicer({"008", "011"}, 4)), chicago).incidents,
        key=lambda i: i.occurred_at,
    )
    settings = Settings().override(min_incidents=50, replan_every=25, material_m=50.0)
    engine = settings.make_engine(chicago)
    return [r.to_geojson() for r in replay_stream(engine, incidents, settings.policy_config())]


@pytest.fixture
async def recorded_api(recorded_routes: list[dict[str, Any]]) -> AsyncIterator[RecordedApi]:
    """A running :class:`RecordedApi` (``.url``) with every recorded route but the last, which
    tests push as the live update."""
    api = RecordedApi(routes=[json.loads(json.dumps(r)) for r in recorded_routes[:-1]])
    runner = web.AppRunner(api.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api.url = f"http://127.0.0.1:{port}"
    try:
        yield api
    finally:
        for ws in list(api.sockets):
            await ws.close()
        await runner.cleanup()
