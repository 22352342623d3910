"""The dispatch API (aiohttp): routes, hotspots, probabilities, WebSocket, tokens; see
docs/api.md. :func:`streams.api.server.attach_api` puts it on a worker's web server,
:mod:`streams.api.serve` runs it without a worker."""
