"""Incident schema, parsing of city exports and events, and placement into districts."""

from __future__ import annotations

from patrol.incidents.schema import REQUIRED_FIELDS, SCHEMA_VERSION, Incident, IncidentError

__all__ = ["REQUIRED_FIELDS", "SCHEMA_VERSION", "Incident", "IncidentError"]
