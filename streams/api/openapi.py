"""The OpenAPI 3.1 document of the dispatch API (served at ``/v1/openapi.json``).

``tests/streams/api/test_openapi.py`` validates it with ``openapi-spec-validator`` and checks
that every route of :data:`streams.api.views.ROUTES` is documented and nothing else is.
"""

from __future__ import annotations

from typing import Any

from streams.api.views import SHIFT_LABELS

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, ctype: str = "application/json") -> Any:
    return {"description": description, "content": {ctype: {"schema": schema}}}


def _responses(ok: dict[str, Any], *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": ok}
    out.update({str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes})
    return out


def _param(name: str, where: str, schema: dict[str, Any], desc: str, required: bool = False) -> Any:
    return {"name": name, "in": where, "required": required or where == "path",
            "description": desc, "schema": schema}  # fmt: skip


DISTRICT = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,16}$", "examples": ["8"]}
SHIFT = {"type": "string", "enum": list(SHIFT_LABELS)}
DATE = {"type": "string", "format": "date"}
ETAG_HEADER = {
    "ETag": {"description": "Strong validator of the body", "schema": {"type": "string"}}
}


def _schemas() -> dict[str, Any]:
    position = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    point = {"type": "object", "required": ["type", "coordinates"],
             "properties": {"type": {"const": "Point"}, "coordinates": position}}  # fmt: skip
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                }
            },
        },
        "Route": {
            "description": 'A route as on patrol.routes.v1 (design.md "Route"): a GeoJSON '
            "FeatureCollection, a LineString path then one Point per way-point, with the "
            "route's metadata as foreign members.",
            "type": "object",
            "required": [
                "type",
                "features",
                "district",
                "shift",
                "date",
                "unit",
                "route_id",
                "version",
                "planner",
                "generated_at",
            ],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": {"type": "object"}},
                "district": {"type": "string"},
                "shift": SHIFT,
                "date": DATE,
                "unit": {"type": "integer"},
                "route_id": {"type": "string"},
                "version": {"type": "integer", "minimum": 1},
                "planner": {"type": "string"},
                "generated_at": {"type": "string", "format": "date-time"},
                "total_distance_m": {"type": "number"},
                "total_time_s": {"type": "number"},
                "expected_incidents": {"type": "number"},
                "model": {"type": "object"},
            },
        },
        "Hotspots": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "geometry", "properties"],
                        "properties": {
                            "type": {"const": "Feature"},
                            "geometry": point,
                            "properties": {
                                "type": "object",
                                "required": ["district", "risk", "kind"],
                                "properties": {
                                    "district": {"type": "string"},
                                    "cluster": {"type": "integer", "minimum": 0},
                                    "risk": {"type": "number", "minimum": 0, "maximum": 1},
                                    "kind": {
                                        "enum": ["hotspot", "predicted", "waypoint", "forecast"]
                                    },
                                    "rule": {"type": "string"},
                                    "expected": {"type": "number", "minimum": 0},
                                    "rank": {"type": "integer", "minimum": 1},
                                    "cell_m": {"type": "number"},
                                    "model": {"type": "string"},
                                    "from": {"type": "string", "format": "date"},
                                },
                            },
                        },
                    },
                },
            },
        },
        "Probabilities": {
            "type": "object",
            "required": ["district", "day", "hour", "clusters"],
            "properties": {
                "district": {"type": "string"},
                "day": {"type": "integer", "minimum": 0, "maximum": 6},
                "hour": {"type": "integer", "minimum": 0, "maximum": 23},
                "clusters": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["cluster", "probability"],
                        "properties": {
                            "cluster": {"type": "integer", "minimum": 0},
                            "probability": {"type": "number", "minimum": 0, "maximum": 1},
                        },
                    },
                },
            },
        },
        "Boundaries": {
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": {"type": "object"}},
            },
        },
        "StreamMessage": {
            "description": "A WebSocket text message.",
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["hello", "route"]},
                "route": _ref("Route"),
                "districts": {"type": "array", "items": {"type": "string"}},
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every endpoint in :data:`streams.api.views.ROUTES`."""
    geo = "application/geo+json"
    paths: dict[str, Any] = {
        "/healthz": {"get": {
            "summary": "Liveness", "operationId": "healthz", "security": [],
            "responses": {"200": _json({"type": "object"}, "The process answers")},
        }},
        "/readyz": {"get": {
            "summary": "Readiness: partitions assigned and tables recovered",
            "operationId": "readyz", "security": [],
            "responses": {
                "200": _json({"type": "object"}, "Ready"),
                "503": _json({"type": "object"}, "Not ready; `checks` says which check fails"),
            },
        }},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (text exposition format)", "operationId": "metrics",
            "security": [],
            "responses": {"200": {"description": "Metrics", "content": {
                "text/plain": {"schema": {"type": "string"}}}}},
        }},
        "/v1/openapi.json": {"get": {
            "summary": "This document", "operationId": "openapi",
            "responses": _responses(_json({"type": "object"}, "OpenAPI 3.1"), 401),
        }},
        "/v1/routes": {"get": {
            "summary": "Latest version of each route (district, date, shift, unit)",
            "operationId": "listRoutes",
            "parameters": [
                _param("district", "query", DISTRICT, "Only this district"),
                _param("shift", "query", SHIFT, "Only this shift"),
                _param("date", "query", DATE, "Only this date (local, YYYY-MM-DD)"),
            ],
            "responses": _responses(_json({
                "type": "object", "required": ["routes"],
                "properties": {"routes": {"type": "array", "items": _ref("Route")}},
            }, "Routes known to this worker"), 400, 401, 403, 404),
        }},
        "/v1/routes/{district}/{shift}": {"get": {
            "summary": "A district's route for a shift (the latest date unless `date`)",
            "operationId": "getRoute",
            "parameters": [
                _param("district", "path", DISTRICT, "District id"),
                _param("shift", "path", SHIFT, "Shift"),
                _param("date", "query", DATE, "Date (default: the latest one known)"),
                _param("If-None-Match", "header", {"type": "string"}, "ETag of a cached copy"),
            ],
            "responses": {
                **_responses({**_json(_ref("Route"), "The route", geo), "headers": ETAG_HEADER},
                             400, 401, 403, 404),
                "304": {"description": "Not modified (the ETag matches)", "headers": ETAG_HEADER},
            },
        }},
        "/v1/hotspots": {"get": {
            "summary": "Hotspots H_k, predicted points L_k and way-points O_k per cluster, and "
            "the served forecast's highest cells",
            "description": "`risk` is the cluster's share of the district's decayed incidents; "
            "for `kind: forecast` (the served forecaster's 10 highest 150 m cells of the "
            "district for the 7 days from `from`), `expected` incidents and `risk` relative to "
            "the district's highest cell. Only the districts whose state lives on this worker.",
            "operationId": "getHotspots",
            "parameters": [_param("district", "query", DISTRICT, "Only this district")],
            "responses": {
                **_responses({**_json(_ref("Hotspots"), "Points", geo), "headers": ETAG_HEADER},
                             400, 401, 403, 404),
                "304": {"description": "Not modified", "headers": ETAG_HEADER},
            },
        }},
        "/v1/districts/{district}/probabilities": {"get": {
            "summary": "P(day, hour, cluster) of Algorithm 1 (day 0 = Monday)",
            "operationId": "getProbabilities",
            "parameters": [
                _param("district", "path", DISTRICT, "District id"),
                _param("day", "query", {"type": "integer", "minimum": 0, "maximum": 6},
                       "Day of the week, 0 = Monday", required=True),
                _param("hour", "query", {"type": "integer", "minimum": 0, "maximum": 23},
                       "Hour of the day (local time)", required=True),
            ],
            "responses": _responses(_json(_ref("Probabilities"), "The table row"),
                                    400, 401, 403, 404),
        }},
        "/v1/boundaries": {"get": {
            "summary": "District boundaries (simplified, `properties.district`)",
            "operationId": "getBoundaries",
            "responses": {
                **_responses({**_json(_ref("Boundaries"), "Polygons", geo),
                              "headers": ETAG_HEADER}, 401, 403),
                "304": {"description": "Not modified", "headers": ETAG_HEADER},
            },
        }},
        "/v1/stream": {"get": {
            "summary": "WebSocket: every revised route, filtered by district",
            "description": "Upgrade to a WebSocket. The token is the Authorization header or, "
            "for browsers (which cannot set headers on a WebSocket), the `access_token` query "
            "parameter; it is never logged. Messages are JSON text frames (`StreamMessage`): "
            "a `hello`, then `{\"type\": \"route\", \"route\": <Route>}` per revised route.",
            "operationId": "stream",
            "security": [{"bearerAuth": []}, {"accessToken": []}],
            "parameters": [
                _param("district", "query", {"type": "array", "items": DISTRICT},
                       "Only these districts (repeat the parameter); none = all"),
            ],
            "responses": {
                "101": {"description": "Switching protocols; then `StreamMessage` frames",
                        "content": {"application/json": {"schema": _ref("StreamMessage")}}},
                **{str(c): {"$ref": f"#/components/responses/E{c}"} for c in (400, 401, 403)},
            },
        }},
        "/v1/admin/reload-model": {"post": {
            "summary": "Reload the arrest model from its path (role admin)",
            "operationId": "reloadModel",
            "responses": _responses(_json({"type": "object"}, "`{ok, version, previous, ...}`"),
                                    401, 403, 500, 503),
        }},
    }  # fmt: skip
    responses = {
        f"E{c}": {"description": d, "content": {"application/json": {"schema": _ref("Error")}}}
        for c, d in {
            400: "Bad parameter (the message names it)",
            401: "No token, or an unknown token",
            403: "The token's role lacks the permission",
            404: "Nothing known for these parameters on this worker",
            500: "Internal error, or the reload failed",
            503: "Not available (no arrest scorer in this worker)",
        }.items()
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "patrolstream dispatch API",
            "version": "1",
            "description": "Patrol routes, hotspots and crime probabilities of the districts "
            "this worker owns, and a WebSocket of revised routes. Roles: `dispatch` (read, "
            "subscribe), `admin` (also reload the arrest model). See docs/api.md.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "security": BEARER,
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "accessToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "access_token",
                    "description": "WebSocket /v1/stream only",
                },
            },
        },
    }
