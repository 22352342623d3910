"""One typed, frozen settings object, read from ``PATROLSTREAM_*`` environment variables in one
place; command-line flags override it (see :mod:`simulators.cli`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from patrol.config import EngineConfig

PREFIX = "PATROLSTREAM_"
SAMPLE = Path(__file__).parent / "sample" / "chicago_2016-09_2016-10.csv.gz"
"""Real Chicago incidents (Sept-Oct 2016, all districts) bundled for the first run."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Runtime settings shared by every command.

    Each field ``name`` is read from ``PATROLSTREAM_<NAME>`` (e.g. ``PATROLSTREAM_CITY``).
    """

    city: str = "chicago"
    travel: str = "street-grid"
    osm_path: str | None = None
    planner: str = "cpspa"
    half_life_days: float = 90.0
    min_incidents: int = 50
    broker: str = "kafka://localhost:9092"
    log_level: str = "WARNING"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (unknown ``PATROLSTREAM_*`` names are ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            kind = type(getattr(cls(), f.name))
            try:
                values[f.name] = kind(raw) if kind in (int, float) else raw
            except ValueError as exc:
                raise ValueError(f"{PREFIX}{f.name.upper()}: {exc}") from None
        return cls(**values)

    def override(self, **flags: Any) -> Settings:
        """A copy with the flags that were given (``None`` = not given)."""
        return replace(self, **{k: v for k, v in flags.items() if v is not None})

    def engine_config(self) -> EngineConfig:
        """The engine parameters these settings imply."""
        return EngineConfig(
            planner=self.planner,
            half_life_days=self.half_life_days,
            min_incidents=self.min_incidents,
        )
