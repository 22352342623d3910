"""The map page: its HTTP routes and assets, and the page itself in headless Chromium against
a small API server over recorded routes (the worker-backed browser test is
test_map_worker.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.web.map import STATIC_DIR, add_map_routes, content_security_policy, render_page

TILES = "https://tiles.example.org/{z}/{x}/{y}.png"


async def _client(**kwargs: Any) -> TestClient:
    app = web.Application()
    add_map_routes(app, **kwargs)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_page_and_vendored_leaflet_are_served_without_a_cdn() -> None:
    client = await _client(tiles="", attribution="")
    try:
        for path in ("/", "/map"):
            resp = await client.get(path)
            assert resp.status == 200
            assert resp.content_type == "text/html"
            text = await resp.text()
            assert '<div id="map"' in text
            csp = resp.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "connect-src 'self'" in csp
            assert "img-src 'self' data:;" in csp  # no tile origin configured
            assert resp.headers["Cache-Control"] == "no-store"
        # every script and stylesheet of the page is local and served
        assets = [a for a in text.split('"') if a.startswith("/static/")]
        assert "/static/vendor/leaflet/leaflet.js" in assets
        assert not [a for a in text.split('"') if a.startswith(("http://", "https://"))]
        for asset in assets:
            resp = await client.get(asset)
            assert resp.status == 200, asset
            assert len(await resp.read()) > 200, asset
        license_text = await (await client.get("/static/vendor/leaflet/LICENSE")).text()
        assert "BSD 2-Clause" in license_text
        assert (await client.get("/static/../map.py")).status in {403, 404}
    finally:
        await client.close()


async def test_a_configured_tile_server_reaches_the_page_and_its_csp() -> None:
    client = await _client(tiles=TILES, attribution='© "Tiles" <Example>')
    try:
        resp = await client.get("/map")
        text = await resp.text()
        assert f'<meta name="patrolstream-tiles" content="{TILES}">' in text
        assert "&lt;Example&gt;" in text and "<Example>" not in text
        csp = resp.headers["Content-Security-Policy"]
        assert "img-src 'self' data: https://tiles.example.org;" in csp
    finally:
        await client.close()


def test_tile_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATROLSTREAM_MAP_TILES", TILES)
    app = web.Application()
    add_map_routes(app)
    assert "https://tiles.example.org" in content_security_policy(TILES)
    monkeypatch.setenv("PATROLSTREAM_MAP_TILES", "ftp://x/{z}/{x}/{y}")
    with pytest.raises(ValueError, match="PATROLSTREAM_MAP_TILES"):
        add_map_routes(web.Application())


@pytest.mark.parametrize(
    "bad", ["javascript:alert(1)//{z}{x}{y}", "https://t.example/tiles.png", "//t/{z}/{x}/{y}"]
)
def test_bad_tile_urls_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="expected an http"):
        render_page(bad)


def test_leaflet_is_vendored_with_its_license() -> None:
    vendor = STATIC_DIR / "vendor" / "leaflet"
    assert (vendor / "LICENSE").read_text().startswith("BSD 2-Clause License")
    head = (vendor / "leaflet.js").read_text()[:300]
    assert "Leaflet 1.9.4" in head


# --------------------------------------------------------------------------------------
# the page in a browser
# --------------------------------------------------------------------------------------


def _current(routes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each district's current route: the latest (date, shift, version)."""
    out: dict[str, dict[str, Any]] = {}
    for r in routes:
        key = (r["date"], r["shift"], r["version"])
        d = r["district"]
        if d not in out or key > (out[d]["date"], out[d]["shift"], out[d]["version"]):
            out[d] = r
    return out


def _etas(route: dict[str, Any]) -> list[str]:
    """'HH:MM' of each way-point's ETA, in sequence order (as the route states it)."""
    points = sorted(route["features"][1:], key=lambda f: f["properties"]["sequence"])
    return [f["properties"]["eta"][11:16] for f in points]


async def _drawn(page: Any, district: str) -> tuple[list[str], list[str]]:
    nums = await page.locator(f'.ps-wp-num[data-district="{district}"]').all_inner_texts()
    etas = await page.locator(f".ps-waypoint-d{district} .ps-wp-eta").all_inner_texts()
    return nums, etas


@pytest.mark.slow
async def test_map_draws_routes_and_applies_a_live_update(
    browser: Any,
    wait_js: Callable[..., Any],
    recorded_api: Any,
    recorded_routes: list[dict[str, Any]],
    watch: Callable[[Any], Any],
    save_artifact: Callable[[Path], Path],
    tmp_path: Path,
) -> None:
    token = recorded_api.token
    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    seen = watch(page)
    await page.goto(f"{recorded_api.url}/map#token={token}")

    before = _current(recorded_routes[:-1])
    assert set(before) == {"8", "11"}
    await page.locator("path.ps-route").first.wait_for(timeout=15_000)
    await wait_js(page, "() => document.querySelectorAll('path.ps-route').length === 2")
    assert await page.locator("path.ps-boundary").count() == 23  # the districts' base layer
    hotspots = recorded_api.hotspots()["features"]
    assert await page.locator("path.ps-hotspot").count() == len(hotspots) > 0
    for district, route in before.items():
        nums, etas = await _drawn(page, district)
        assert nums == [str(i) for i in range(1, len(route["features"]))]
        assert etas == _etas(route)
        item = page.locator(f'#routes li[data-district="{district}"]')
        assert await item.get_attribute("data-version") == str(route["version"])
    assert page.url.endswith("/map")  # the token left the address bar...
    assert await page.evaluate("sessionStorage.getItem('patrolstream.token')") == token

    # a revised route arrives over the WebSocket
    await recorded_api.wait_for_subscribers(1)
    revised = recorded_routes[-1]
    district = revised["district"]
    old = before[district]
    assert (revised["date"], revised["shift"], revised["version"]) > (
        old["date"], old["shift"], old["version"]
    )  # fmt: skip
    assert await recorded_api.push(json.loads(json.dumps(revised))) == 1
    await page.wait_for_selector('#status[data-updates="1"]', timeout=5_000)
    item = page.locator(f'#routes li[data-district="{district}"]')
    assert await item.get_attribute("data-version") == str(revised["version"])
    nums, etas = await _drawn(page, district)
    assert nums == [str(i) for i in range(1, len(revised["features"]))]
    assert etas == _etas(revised)
    assert await page.locator(f"path.ps-route-d{district}.ps-route-live").count() == 1
    assert await page.locator("path.ps-route").count() == 2  # replaced, not added

    # ... an older version arriving late changes nothing
    await recorded_api.push(json.loads(json.dumps(old)))
    await page.wait_for_timeout(300)
    assert await item.get_attribute("data-version") == str(revised["version"])
    assert await page.get_attribute("#status", "data-updates") == "1"

    shot = tmp_path / "map-recorded.png"
    await page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    save_artifact(shot)

    # ... only in the WebSocket URL, never in any HTTP URL; as a bearer header on /v1
    assert [u for u in seen.requests if token in u] == []
    assert all(token in u for u in seen.websockets) and seen.websockets
    api_headers = [
        h for u, h in zip(seen.requests, seen.request_headers, strict=True) if "/v1/" in u
    ]
    assert api_headers and all(h.get("authorization") == f"Bearer {token}" for h in api_headers)
    assert seen.errors == []  # no script error, no CSP violation


@pytest.mark.slow
async def test_map_asks_for_a_token_and_rejects_a_wrong_one(
    browser: Any, recorded_api: Any, wait_js: Callable[..., Any]
) -> None:
    token = recorded_api.token
    page = await browser.new_page()
    await page.goto(f"{recorded_api.url}/")
    await page.wait_for_selector('#status[data-state="login"]')
    assert await page.locator("#login").is_visible()
    assert await page.locator("path.ps-route").count() == 0

    await page.fill("#token", "wrong-token")
    await page.click("#login button[type=submit]")
    await wait_js(page, "() => document.getElementById('login-error').textContent.includes('401')")
    assert await page.evaluate("sessionStorage.getItem('patrolstream.token')") is None

    await page.fill("#token", token)
    await page.click("#login button[type=submit]")
    await wait_js(page, "() => document.querySelectorAll('path.ps-route').length === 2")
    assert not await page.locator("#login").is_visible()
    await page.wait_for_selector('#status[data-state="live"]')


@pytest.mark.slow
async def test_map_reconnects_and_notices_a_revoked_token(
    browser: Any,
    recorded_api: Any,
    recorded_routes: list[dict[str, Any]],
    wait_js: Callable[..., Any],
) -> None:
    page = await browser.new_page()
    await page.goto(f"{recorded_api.url}/map#token={recorded_api.token}")
    await page.wait_for_selector('#status[data-state="live"]')
    await recorded_api.wait_for_subscribers(1)

    # the server drops the connection: the page comes back and still gets updates
    for ws in list(recorded_api.sockets):
        await ws.close()
    await wait_js(page, "() => document.getElementById('status').dataset.state !== 'live'")
    await page.wait_for_selector('#status[data-state="live"]', timeout=10_000)
    await recorded_api.wait_for_subscribers(1)
    await recorded_api.push(json.loads(json.dumps(recorded_routes[-1])))
    await page.wait_for_selector('#status[data-updates="1"]', timeout=5_000)

    # the token is revoked while connected: the next handshake fails, the page asks again
    recorded_api.token = "rotated-" + recorded_api.token
    for ws in list(recorded_api.sockets):
        await ws.close()
    await page.wait_for_selector('#status[data-state="login"]', timeout=10_000)
    assert "401" in await page.inner_text("#login-error")
    assert await page.evaluate("sessionStorage.getItem('patrolstream.token')") is None
