"""The dispatchers' map page (:mod:`streams.web.map`) and its static assets."""
