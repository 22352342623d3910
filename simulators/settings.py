"""One typed, frozen settings object, read from ``PATROLSTREAM_*`` environment variables in one
place; command-line flags override it (see :mod:`simulators.cli`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.arrest import DEFAULT_MODEL
from models.forecast import DEFAULT_MODEL as DEFAULT_FORECAST_MODEL
from patrol.config import EngineConfig

if TYPE_CHECKING:
    from patrol.engine import Engine
    from patrol.forecast.served import CellRateModel
    from patrol.incidents.profile import CityProfile
    from patrol.policy import PolicyConfig

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
    units: int = 1
    """Patrol units per district and shift (more than one needs the ``optimizer`` planner)."""
    half_life_days: float = 90.0
    min_incidents: int = 50
    forecaster: str = "served"
    """Per-cell hotspot forecaster: ``served`` (ours-served, the backtest's best; ranks the
    optimiser's sites and the API's forecast cells) or ``counts`` (decayed counts only)."""
    forecast_model: str = str(DEFAULT_FORECAST_MODEL)
    """ONNX model of the served forecaster (its ``.card.json`` beside it); the committed one
    by default (``patrolstream train-forecaster`` writes a new one)."""
    broker: str = "kafka://localhost:9092"
    log_level: str = "WARNING"
    # -- streaming workers (``patrolstream worker``, :mod:`streams`) ---------------------------
    app_id: str = "patrolstream"
    """Faust application id: the consumer group, and the prefix of the changelog topics."""
    topic_prefix: str = ""
    """Prepended to every topic name (``patrol.incidents.v1`` ...), e.g. to isolate tests."""
    partitions: int = 4
    """Partitions of the topics the worker creates (and of its tables)."""
    replication_factor: int = 1
    """Replication factor of the topics the worker creates."""
    store: str = "auto"
    """Table store: ``memory://``, ``rocksdb://`` (needs rocksdict), or ``auto`` (rocksdb when
    rocksdict is installed, else memory)."""
    replan_every: int = 25
    """Re-plan a district's next shift after this many learned incidents (debounce)."""
    material_m: float = 50.0
    """A re-planned route is emitted only if a way-point moved farther than this (or the
    way-points or expected incidents changed, see :mod:`patrol.policy`)."""
    max_message_bytes: int = 65536
    """Incident messages larger than this go to the dead-letter topic as ``oversized``."""
    web_port: int = 0
    """Port of the worker's web server (``/patrol/stats``); 0 = no web server."""
    data_dir: str = ""
    """Worker data folder (Faust state, RocksDB tables); default ``./<app_id>-data``."""
    stats_interval_s: float = 30.0
    """Seconds between the worker's ``stats`` log lines (0 = never)."""
    producer_linger_s: float = 0.0
    """How long the worker's producer waits to batch messages (Faust ``producer_linger``). A
    linger of 0.01 s cut the worker's CPU per message by about a sixth and the broker's by half
    (``bench/stream_ceiling.py``) but lowered the worker's rate (its agents wait for the
    acknowledgements of each micro-batch's routes) and added to latency; 0 = send at once."""
    snapshot_every: int = 2000
    """Snapshot a district's state into its history table after this many history entries
    (``PATROLSTREAM_SNAPSHOT_EVERY``); the entries it covers are then deleted, so restore time
    and changelog size stay bounded (0 = never snapshot). See :mod:`streams.history`."""
    # -- arrest scoring (:mod:`streams.scoring`, issue 4) ----------------------------------------
    arrest_model: str = str(DEFAULT_MODEL)
    """ONNX arrest model (its ``.card.json`` beside it) scored on every valid incident; the
    committed model by default; ``none`` = no scoring."""
    arrest_reload_s: float = 10.0
    """Seconds between checks of the model file for a new version (0 = never watch)."""
    score_batch: int = 64
    """Largest micro-batch of incidents per onnxruntime call."""
    # -- dispatch API (:mod:`streams.api`, issue 5; docs/api.md) -------------------------------
    api_tokens_file: str = ""
    """JSON or TOML file of API tokens -> role (``dispatch`` or ``admin``); tokens preferably
    as ``sha256:<hex>`` (``python -m streams.api.auth hash``)."""
    api_tokens: str = ""
    """More tokens, ``token=role,...`` or a JSON object (environment only: keep it off the
    command line)."""
    api_max_body_bytes: int = 65536
    """Largest request body the API reads (HTTP 413 beyond)."""
    # -- Kafka client security (every client: workers, replay, routes; docs/api.md) ------------
    kafka_security_protocol: str = "PLAINTEXT"
    """``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``."""
    kafka_sasl_mechanism: str = "PLAIN"
    """``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (with a ``SASL_*`` protocol)."""
    kafka_sasl_username: str = ""
    """SASL user name."""
    kafka_sasl_password: str = ""
    """SASL password (environment only)."""
    kafka_ssl_cafile: str = ""
    """CA bundle (PEM) that signed the brokers' certificates; empty = the system's."""
    kafka_ssl_certfile: str = ""
    """Client certificate (PEM) for mutual TLS; optional."""
    kafka_ssl_keyfile: str = ""
    """Private key of the client certificate (PEM); optional."""

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
            units=self.units,
            half_life_days=self.half_life_days,
            min_incidents=self.min_incidents,
            forecaster=self.forecaster,
        )

    def make_engine(self, profile: CityProfile | None = None) -> Engine:
        """The engine these settings describe: city profile (loaded unless given), engine
        parameters, travel-time provider and, with ``forecaster=served``, its model."""
        from patrol.engine import Engine
        from patrol.incidents.profile import load_profile
        from patrol.travel import make_provider

        options = {"osm_path": self.osm_path} if self.travel == "osm-road" else {}
        return Engine(
            profile if profile is not None else load_profile(self.city),
            self.engine_config(),
            make_provider(self.travel, **options),
            self.load_forecast_model(),
        )

    def load_forecast_model(self) -> CellRateModel | None:
        """The served forecaster's model (``None`` with ``forecaster=counts``).

        Raises :class:`models.forecast.runtime.ForecastModelError` when it cannot be loaded.
        """
        if self.forecaster != "served":
            return None
        from models.forecast.runtime import load_forecast_model

        return load_forecast_model(self.forecast_model)

    def policy_config(self) -> PolicyConfig:
        """The emission policy these settings imply (see :mod:`patrol.policy`)."""
        from patrol.policy import PolicyConfig

        return PolicyConfig(replan_every=self.replan_every, material_m=self.material_m)

    def store_url(self) -> str:
        """The Faust table store URL, resolving ``auto``."""
        if self.store != "auto":
            return self.store
        try:
            import rocksdict  # noqa: F401
        except ImportError:
            return "memory://"
        return "rocksdb://"
