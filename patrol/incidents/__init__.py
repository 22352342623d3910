"""Incident schema, parsing of city exports and events, and placement into districts.

Shapely is imported only with :mod:`patrol.incidents.areas` (``AreaLocator``), so parsing
alone stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from patrol.incidents.parse import (
    MAX_ID_LENGTH,
    ParsedBatch,
    iter_csv,
    parse_event,
    parse_row,
    read_csv,
)
from patrol.incidents.profile import (
    BBox,
    CityProfile,
    ProfileError,
    load_profile,
    normalise_code,
    profile_from_dict,
)
from patrol.incidents.report import RejectionReport
from patrol.incidents.revisions import Revision, RevisionKind, RevisionLog
from patrol.incidents.schema import REQUIRED_FIELDS, SCHEMA_VERSION, Incident, IncidentError

if TYPE_CHECKING:
    from patrol.incidents.areas import AreaLocator

__all__ = [
    "MAX_ID_LENGTH",
    "REQUIRED_FIELDS",
    "SCHEMA_VERSION",
    "AreaLocator",
    "BBox",
    "CityProfile",
    "Incident",
    "IncidentError",
    "ParsedBatch",
    "ProfileError",
    "RejectionReport",
    "Revision",
    "RevisionKind",
    "RevisionLog",
    "iter_csv",
    "load_profile",
    "normalise_code",
    "parse_event",
    "parse_row",
    "profile_from_dict",
    "read_csv",
]


def __getattr__(name: str) -> Any:
    if name == "AreaLocator":
        from patrol.incidents.areas import AreaLocator

        return AreaLocator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
