"""The dispatchers' map page: ``/`` and ``/map`` (HTML) and ``/static/...`` (its assets).

The page is static: everything it shows comes from the ``/v1`` API with the dispatcher's
bearer token (district boundaries as the base layer, hotspots, each district's current route
with numbered way-points and ETAs) and from the WebSocket ``/v1/stream``, which pushes every
revised route. The token is entered in the page or given once in the URL fragment
(``/map#token=...``, never sent to the server), kept in ``sessionStorage`` and sent as an
``Authorization: Bearer`` header; only the WebSocket carries it in its URL (``access_token``),
because browsers cannot set headers on a WebSocket.

No tile server is reachable from where this runs, so the district boundaries are the base
layer. A deployment with a tile server sets ``PATROLSTREAM_MAP_TILES`` (an ``http(s)`` URL
template with ``{z}``, ``{x}`` and ``{y}``, e.g. ``https://tiles.example.org/{z}/{x}/{y}.png``)
and optionally ``PATROLSTREAM_MAP_ATTRIBUTION``; the page reads them from ``<meta>`` tags and
the Content-Security-Policy allows images from that origin only.

The map library is Leaflet, vendored from npm under ``static/vendor/leaflet/`` with its
licence (no CDN).
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
"""The page's assets, served under ``/static/``."""

TILES_ENV = "PATROLSTREAM_MAP_TILES"
ATTRIBUTION_ENV = "PATROLSTREAM_MAP_ATTRIBUTION"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="patrolstream-tiles" content="{tiles}">
<meta name="patrolstream-tiles-attribution" content="{attribution}">
<title>patrolstream: patrol routes</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">
<link rel="stylesheet" href="/static/map.css">
</head>
<body>
<div id="map" aria-label="map of districts, hotspots and patrol routes"></div>
<aside id="panel">
  <header>
    <h1>patrolstream</h1>
    <div id="status" data-state="starting" data-updates="0" role="status">starting</div>
  </header>
  <form id="login" hidden>
    <label for="token">Access token</label>
    <input id="token" name="token" type="password" autocomplete="off" required>
    <button type="submit">Show routes</button>
    <p id="login-error" role="alert"></p>
  </form>
  <ol id="routes" aria-label="current route of each district"></ol>
  <button id="logout" type="button" hidden>Forget token</button>
</aside>
<script src="/static/vendor/leaflet/leaflet.js"></script>
<script src="/static/map.js"></script>
</body>
</html>
"""


def tile_origin(template: str) -> str:
    """The ``scheme://host[:port]`` of a tile URL template; ``ValueError`` if it is not one.

    Examples
    --------
    >>> tile_origin("https://tiles.example.org/{z}/{x}/{y}.png")
    'https://tiles.example.org'
    >>> tile_origin("javascript:alert(1)")
    Traceback (most recent call last):
    ...
    ValueError: PATROLSTREAM_MAP_TILES: expected an http(s) URL with {z}, {x} and {y}, got 'javascript:alert(1)'
    """  # noqa: E501
    parts = urlsplit(template)
    placeholders = all(p in template for p in ("{z}", "{x}", "{y}"))
    if parts.scheme not in {"http", "https"} or not parts.netloc or not placeholders:
        raise ValueError(
            f"{TILES_ENV}: expected an http(s) URL with {{z}}, {{x}} and {{y}}, got {template!r}"
        )
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(tiles: str = "") -> str:
    """The page's CSP: only its own scripts, styles and API; images also from the tile origin.

    Examples
    --------
    >>> "img-src 'self' data: https://t.example" in content_security_policy(
    ...     "https://t.example/{z}/{x}/{y}.png")
    True
    """
    img = "'self' data:" + (f" {tile_origin(tiles)}" if tiles else "")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def render_page(tiles: str = "", attribution: str = "") -> str:
    """The HTML of the map page, with the tile settings in its ``<meta>`` tags (escaped)."""
    if tiles:
        tile_origin(tiles)  # validates
    return PAGE.format(
        tiles=html.escape(tiles, quote=True), attribution=html.escape(attribution, quote=True)
    )


def add_map_routes(
    app: web.Application, *, tiles: str | None = None, attribution: str | None = None
) -> None:
    """Serve the map page at ``/`` and ``/map`` and its assets under ``/static/``.

    Parameters
    ----------
    app
        The aiohttp application of the worker's (or ``patrolstream serve``'s) web server.
    tiles
        Tile URL template of a base map; default ``$PATROLSTREAM_MAP_TILES``, empty = none
        (the district boundaries are then the only base layer).
    attribution
        Attribution shown for the tiles; default ``$PATROLSTREAM_MAP_ATTRIBUTION``.

    Examples
    --------
    >>> app = web.Application()
    >>> add_map_routes(app, tiles="")
    >>> sorted({r.resource.canonical for r in app.router.routes()})
    ['/', '/map', '/static']
    """
    tiles = os.environ.get(TILES_ENV, "") if tiles is None else tiles
    attribution = os.environ.get(ATTRIBUTION_ENV, "") if attribution is None else attribution
    body = render_page(tiles, attribution)
    headers = {
        "Content-Security-Policy": content_security_policy(tiles),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="text/html", headers=headers)

    app.router.add_get("/", page)
    app.router.add_get("/map", page)
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
