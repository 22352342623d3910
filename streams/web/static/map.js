/* patrolstream map page: district boundaries, hotspots and each district's current route,
 * updated live over the /v1/stream WebSocket. Plain ES2017, no build step; Leaflet is global L.
 * The token lives in sessionStorage only; it is sent as a bearer header, and in the WebSocket
 * URL (access_token) because browsers cannot set headers there. */
(function () {
  "use strict";

  var TOKEN_KEY = "patrolstream.token";
  var PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
    "#9a6324", "#469990", "#800000", "#808000", "#000075", "#bfef45", "#fabed4", "#dcbeff",
    "#ffd8b1", "#aaffc3", "#e6beff", "#a9a9a9", "#ffe119", "#008080", "#fffac8", "#000000"];
  var HOTSPOT_COLOURS = { hotspot: "#d7301f", predicted: "#fc8d59", waypoint: "#7a0177",
                          forecast: "#2b8cbe" };

  var statusEl = document.getElementById("status");
  var routesEl = document.getElementById("routes");
  var loginEl = document.getElementById("login");
  var loginError = document.getElementById("login-error");
  var logoutEl = document.getElementById("logout");

  var map = L.map("map", { zoomControl: true, zoomSnap: 0.25 }).setView([41.84, -87.68], 11);
  var tiles = meta("patrolstream-tiles");
  if (tiles) {
    L.tileLayer(tiles, { attribution: meta("patrolstream-tiles-attribution"), maxZoom: 19 })
      .addTo(map);
  }
  var boundaryLayer = L.layerGroup().addTo(map);
  var hotspotLayer = L.layerGroup().addTo(map);
  var routeLayer = L.layerGroup().addTo(map);
  L.control.layers(null, { "Hotspots": hotspotLayer, "Routes": routeLayer }).addTo(map);
  var legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "ps-legend");
    [["hotspot", "hotspot (KDE peak)"], ["predicted", "predicted point"],
      ["waypoint", "way-point site"], ["forecast", "forecast cell (7 days)"]].forEach(function (row) {
      var line = L.DomUtil.create("div", "", div);
      L.DomUtil.create("span", "ps-legend-dot ps-legend-" + row[0], line);
      line.appendChild(document.createTextNode(row[1]));
    });
    var live = L.DomUtil.create("div", "", div);
    L.DomUtil.create("span", "ps-legend-dash", live);
    live.appendChild(document.createTextNode("route revised live"));
    return div;
  };
  legend.addTo(map);

  var current = {};        // district -> {route, layer}
  var hotspotLayers = {};  // district -> layer group
  var hotspotFetched = {}; // district -> time of the last refresh (ms)
  var updates = 0;
  var socket = null;
  var retryMs = 1000;

  function meta(name) {
    var el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute("content") : "";
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function colourIndex(district) {
    var n = parseInt(district, 10);
    if (isNaN(n)) {
      n = 0;
      for (var i = 0; i < district.length; i++) { n = (n * 31 + district.charCodeAt(i)) % 9973; }
    }
    return n % PALETTE.length;
  }

  function colour(district) { return PALETTE[colourIndex(district)]; }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function setStatus(state, text) {
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = text;
  }

  // ---- token ------------------------------------------------------------------------------
  function readToken() {
    var match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askToken(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    loginError.textContent = message || "";
    loginEl.hidden = false;
    logoutEl.hidden = true;
    setStatus("login", "access token needed");
    document.getElementById("token").focus();
  }

  loginEl.addEventListener("submit", function (event) {
    event.preventDefault();
    var value = document.getElementById("token").value.trim();
    if (!value) { return; }
    sessionStorage.setItem(TOKEN_KEY, value);
    document.getElementById("token").value = "";
    start();
  });

  logoutEl.addEventListener("click", function () { askToken("token forgotten"); });

  function AuthError(status) { this.status = status; }

  function api(path) {
    var token = sessionStorage.getItem(TOKEN_KEY);
    return fetch(path, { headers: { "Authorization": "Bearer " + token }, cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401 || resp.status === 403) { throw new AuthError(resp.status); }
        if (!resp.ok) { throw new Error(path + ": HTTP " + resp.status); }
        return resp.json();
      });
  }

  function failed(err) {
    if (err instanceof AuthError) {
      askToken(err.status === 401 ? "token rejected (401)" : "token not allowed here (403)");
    } else {
      setStatus("error", String(err && err.message ? err.message : err));
    }
  }

  // ---- boundaries -------------------------------------------------------------------------
  function districtOf(props) {
    return String(props.district || props.DIST_NUM || props.dist_num || props.name || "");
  }

  function drawBoundaries(geojson) {
    boundaryLayer.clearLayers();
    var layer = L.geoJSON(geojson, {
      style: function () {
        return { className: "ps-boundary", color: "#555", weight: 1.2, fillColor: "#f2efe9",
          fillOpacity: tiles ? 0.05 : 0.9 };
      },
      onEachFeature: function (feature, lyr) {
        var d = districtOf(feature.properties || {});
        if (d) {
          lyr.bindTooltip(d, { permanent: true, direction: "center", className: "ps-district-label" });
        }
      }
    });
    boundaryLayer.addLayer(layer);
    var bounds = layer.getBounds();
    if (bounds.isValid()) { map.fitBounds(bounds, { padding: [8, 8] }); }
  }

  // ---- hotspots ---------------------------------------------------------------------------
  function drawHotspots(geojson, onlyDistrict) {
    var byDistrict = {};
    (geojson.features || []).forEach(function (f) {
      var p = f.properties || {};
      var d = String(p.district || "");
      (byDistrict[d] = byDistrict[d] || []).push(f);
    });
    if (onlyDistrict !== undefined && !byDistrict[onlyDistrict]) { byDistrict[onlyDistrict] = []; }
    Object.keys(byDistrict).forEach(function (d) {
      if (hotspotLayers[d]) { hotspotLayer.removeLayer(hotspotLayers[d]); }
      var group = L.layerGroup();
      byDistrict[d].forEach(function (f) {
        if (!f.geometry || f.geometry.type !== "Point") { return; }
        var p = f.properties || {};
        var kind = HOTSPOT_COLOURS[p.kind] ? p.kind : "hotspot";
        var risk = Number(p.risk) || 0;
        var c = f.geometry.coordinates;
        L.circleMarker([c[1], c[0]], {
          className: "ps-hotspot ps-hotspot-" + kind,
          radius: 4 + 10 * Math.min(1, Math.max(0, risk)),
          color: HOTSPOT_COLOURS[kind], weight: 1, fillOpacity: 0.35
        }).bindTooltip(escapeHtml(kind === "forecast"
          ? "District " + d + " · forecast cell #" + p.rank + " · " +
            (Number(p.expected) || 0).toFixed(1) + " incidents expected in 7 days"
          : "District " + d + " · " + kind + " · cluster " + p.cluster +
            " · risk " + risk.toFixed(2))).addTo(group);
      });
      hotspotLayers[d] = group;
      hotspotLayer.addLayer(group);
    });
  }

  function refreshHotspots(district) {
    var now = Date.now();
    if (hotspotFetched[district] && now - hotspotFetched[district] < 10000) { return; }
    hotspotFetched[district] = now;
    api("/v1/hotspots?district=" + encodeURIComponent(district))
      .then(function (g) { drawHotspots(g, district); })
      .catch(function () { /* the route is still shown; hotspots refresh on the next update */ });
  }

  // ---- routes -----------------------------------------------------------------------------
  function routeKey(route) {
    return [route.date || "", route.shift || "", String(1e9 + (route.version || 0))].join("|");
  }

  function clock(eta) {
    // "2016-09-07T00:02:38-05:00" -> "00:02": the city's local time as written in the route.
    var m = /T(\d\d:\d\d)/.exec(eta || "");
    return m ? m[1] : "";
  }

  function waypoints(route) {
    return (route.features || []).filter(function (f) {
      return f.geometry && f.geometry.type === "Point" && f.properties &&
        f.properties.sequence !== undefined;
    }).sort(function (a, b) { return a.properties.sequence - b.properties.sequence; });
  }

  function drawRoute(route, live) {
    var d = String(route.district);
    var old = current[d];
    if (old && routeKey(old.route) > routeKey(route)) { return false; }  // older or stale
    if (old && routeKey(old.route) === routeKey(route)) { return false; }  // the same version
    if (old) { routeLayer.removeLayer(old.layer); }
    var col = colour(d);
    var group = L.layerGroup();
    (route.features || []).forEach(function (f) {
      if (f.geometry && f.geometry.type === "LineString") {
        var latlngs = f.geometry.coordinates.map(function (c) { return [c[1], c[0]]; });
        L.polyline(latlngs, {
          className: "ps-route ps-route-d" + d + (live ? " ps-route-live" : ""),
          color: col, weight: 4, opacity: 0.85
        }).bindTooltip(escapeHtml("District " + d + " · " + route.date + " " + route.shift +
          " · v" + route.version)).addTo(group);
      }
    });
    waypoints(route).forEach(function (f) {
      var p = f.properties;
      var c = f.geometry.coordinates;
      var icon = L.divIcon({
        className: "ps-waypoint ps-waypoint-d" + d,
        html: '<span class="ps-wp-num" data-district="' + escapeHtml(d) + '" data-sequence="' +
          escapeHtml(p.sequence) + '">' + escapeHtml(p.sequence) + '</span>' +
          '<span class="ps-wp-eta">' + escapeHtml(clock(p.eta)) + "</span>",
        iconSize: [22, 22], iconAnchor: [11, 11]
      });
      L.marker([c[1], c[0]], { icon: icon, keyboard: false })
        .bindPopup(escapeHtml("District " + d + " #" + p.sequence) + "<br>ETA " +
          escapeHtml(p.eta) + "<br>P(incident) " + escapeHtml(Number(p.probability).toFixed(3)) +
          "<br>cluster " + escapeHtml(p.cluster))
        .addTo(group);
    });
    routeLayer.addLayer(group);
    current[d] = { route: route, layer: group };
    renderList(live ? d : null);
    return true;
  }

  function renderList(flash) {
    var districts = Object.keys(current).sort(function (a, b) {
      return (parseInt(a, 10) - parseInt(b, 10)) || a.localeCompare(b);
    });
    routesEl.textContent = "";
    districts.forEach(function (d) {
      var r = current[d].route;
      var li = document.createElement("li");
      li.className = "ps-route-item" + (d === flash ? " ps-flash" : "");
      li.setAttribute("data-district", d);
      li.setAttribute("data-version", r.version);
      var swatch = document.createElement("span");
      swatch.className = "ps-swatch ps-swatch-" + colourIndex(d);
      var title = document.createElement("strong");
      title.textContent = "District " + d;
      var sub = document.createElement("span");
      sub.className = "ps-sub";
      sub.textContent = r.date + " " + r.shift + " · v" + r.version + " · " +
        (Number(r.total_distance_m) / 1000).toFixed(1) + " km";
      var stops = document.createElement("span");
      stops.className = "ps-stops";
      stops.textContent = waypoints(r).map(function (f) {
        return f.properties.sequence + ". " + clock(f.properties.eta);
      }).join("  ");
      li.appendChild(swatch);
      li.appendChild(title);
      li.appendChild(sub);
      li.appendChild(stops);
      li.addEventListener("click", function () {
        var layers = current[d].layer.getLayers();
        var bounds = L.featureGroup(layers).getBounds();
        if (bounds.isValid()) { map.fitBounds(bounds, { maxZoom: 14, padding: [20, 20] }); }
      });
      routesEl.appendChild(li);
    });
  }

  function loadRoutes() {
    return api("/v1/routes").then(function (body) {
      (body.routes || []).slice().sort(function (a, b) {
        return routeKey(a) < routeKey(b) ? -1 : 1;
      }).forEach(function (r) { drawRoute(r, false); });
    });
  }

  // ---- live updates -----------------------------------------------------------------------
  function connect() {
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + "/v1/stream?access_token=" + encodeURIComponent(token);
    setStatus("connecting", "connecting");
    var ws = new WebSocket(url);
    var opened = false;
    socket = ws;
    ws.onopen = function () {
      opened = true;
      retryMs = 1000;
      setStatus("live", "live · " + plural(updates, "update"));
      loadRoutes().catch(failed);  // anything emitted while we were away
    };
    ws.onmessage = function (event) {
      var msg;
      try { msg = JSON.parse(event.data); } catch (e) { return; }
      if (msg.type === "route" && msg.route) {
        if (drawRoute(msg.route, true)) {
          updates += 1;
          statusEl.setAttribute("data-updates", String(updates));
          statusEl.setAttribute("data-last-district", String(msg.route.district));
          setStatus("live", "live · " + plural(updates, "update") + " · last: district " +
            msg.route.district + " v" + msg.route.version);
          refreshHotspots(String(msg.route.district));
        }
      } else if (msg.type === "hotspots" && msg.hotspots) {
        drawHotspots(msg.hotspots, msg.district === undefined ? undefined : String(msg.district));
      }
    };
    ws.onclose = function (event) {
      if (socket !== ws) { return; }
      socket = null;
      if (event.code === 4401 || event.code === 4403) { askToken("token rejected"); return; }
      var retry = function () {
        setStatus("offline", "offline · retrying in " + Math.round(retryMs / 1000) + " s");
        setTimeout(connect, retryMs);
        retryMs = Math.min(30000, retryMs * 2);
      };
      // A handshake refused (e.g. the token was revoked) looks like any other failure to a
      // page: ask the API, which says 401/403 when it is the token.
      if (!opened) { loadRoutes().then(retry, function (err) {
        if (err instanceof AuthError) { failed(err); } else { retry(); }
      }); } else { retry(); }
    };
  }

  function start() {
    loginEl.hidden = true;
    logoutEl.hidden = false;
    setStatus("loading", "loading");
    Promise.all([
      api("/v1/boundaries").then(drawBoundaries),
      api("/v1/hotspots").then(function (g) { drawHotspots(g); }),
      loadRoutes()
    ]).then(connect).catch(failed);
  }

  if (readToken()) { start(); } else { askToken(""); }
})();
