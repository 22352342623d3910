"""The map page in headless Chromium against a real worker on the broker: it draws each
district's current route from the worker's API and follows the revised routes that new
incidents cause over the WebSocket. The screenshot is kept as a test artifact."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile

SETTINGS = {"min_incidents": 50, "replan_every": 25, "material_m": 50.0}
TOKEN = "map-test-dispatch-4c1d"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _key(route: dict[str, Any]) -> tuple[str, str, int]:
    return route["date"], route["shift"], route["version"]


async def _current_routes(base: str) -> dict[str, dict[str, Any]]:
    """Each district's current route according to the worker's API (latest slot, version)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http, http.get(f"{base}/v1/routes", headers=headers) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
    out: dict[str, dict[str, Any]] = {}
    for route in body["routes"]:
        d = route["district"]
        if d not in out or _key(route) > _key(out[d]):
            out[d] = route
    return out


async def _page_versions(page: Any) -> dict[str, str]:
    return dict(
        await page.eval_on_selector_all(
            "#routes li",
            "els => els.map(e => [e.dataset.district, e.dataset.version])",
        )
    )


@pytest.mark.kafka
@pytest.mark.slow
async def test_map_follows_a_running_worker(
    require_broker: Callable[[], str],
    worker_factory: Callable[..., Any],
    produce: Callable[..., Any],
    slicer: Callable[[set[str], int], str],
    chicago: CityProfile,
    browser: Any,
    wait_js: Callable[..., Any],
    watch: Callable[[Any], Any],
    save_artifact: Callable[[Path], Path],
    tmp_path: Path,
) -> None:
    bootstrap = require_broker()
    incidents = sorted(
        read_csv(io.StringIO(slicer({"008", "011"}, 5)), chicago).incidents,
        key=lambda i: i.occurred_at,
    )
    first = [i for i in incidents if i.occurred_at.day <= 3]
    rest = incidents[len(first) :]
    assert len(first) > 200 and len(rest) > 100

    def messages(batch: list[Any]) -> list[tuple[bytes, bytes]]:
        return [(i.district.encode(), json.dumps(i.to_event()).encode()) for i in batch]

    port = _free_port()
    worker = await worker_factory(
        bootstrap, web_port=port, api_tokens=f"{TOKEN}=dispatch", **SETTINGS
    ).start()
    base = f"http://127.0.0.1:{port}"
    await produce(bootstrap, worker.topics.incidents, messages(first))
    worker.wait_for_stats(lambda s: sum(s["outcomes"].values()) == len(first), timeout_s=90.0)
    await asyncio.sleep(1.0)  # the last incident's routes: acknowledged, then in the API
    before = await _current_routes(base)
    assert set(before) == {"8", "11"}, worker.tail()

    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    seen = watch(page)
    await page.goto(f"{base}/map#token={TOKEN}")
    await wait_js(page, "() => document.querySelectorAll('path.ps-route').length === 2", None, 20)
    assert await page.locator("path.ps-boundary").count() == 23
    assert await page.locator("path.ps-hotspot").count() > 0
    assert await page.locator("path.ps-hotspot-forecast").count() > 0  # served forecast cells
    assert await _page_versions(page) == {d: str(r["version"]) for d, r in before.items()}
    for district, route in before.items():
        points = sorted(route["features"][1:], key=lambda f: f["properties"]["sequence"])
        nums = await page.locator(f'.ps-wp-num[data-district="{district}"]').all_inner_texts()
        etas = await page.locator(f".ps-waypoint-d{district} .ps-wp-eta").all_inner_texts()
        assert nums == [str(f["properties"]["sequence"]) for f in points]
        assert etas == [f["properties"]["eta"][11:16] for f in points]
    await page.wait_for_selector('#status[data-state="live"]', timeout=10_000)

    # new incidents: the worker emits revised routes, the page gets them over the WebSocket
    await produce(bootstrap, worker.topics.incidents, messages(rest))
    await wait_js(
        page, "() => Number(document.getElementById('status').dataset.updates) >= 1", None, 30
    )
    worker.wait_for_stats(lambda s: sum(s["outcomes"].values()) == len(incidents), timeout_s=90.0)
    after = await _current_routes(base)
    assert all(_key(after[d]) > _key(before[d]) for d in before)
    want = {d: [r["date"], r["shift"], r["version"]] for d, r in after.items()}
    await wait_js(
        page,
        """want => Object.entries(want).every(([d, w]) => {
             const li = document.querySelector(`#routes li[data-district="${d}"]`);
             return li && li.dataset.version === String(w[2]) &&
               li.querySelector('.ps-sub').textContent.startsWith(`${w[0]} ${w[1]}`);
           })""",
        want,
        15,
    )
    assert await page.locator("path.ps-route").count() == 2
    assert await page.locator("path.ps-route-live").count() >= 1

    shot = tmp_path / "map-worker.png"
    await page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    save_artifact(shot)
    assert [u for u in seen.requests if TOKEN in u] == []
    assert seen.errors == [], seen.errors
    assert worker.alive(), worker.tail()
