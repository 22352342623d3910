"""patrolstream's pure domain: incidents, online learners, travel, planners and the engine.

This package never imports Kafka, Faust, aiohttp, onnxruntime or Prometheus clients; the
adapters in :mod:`streams` and :mod:`simulators` wrap it. Time always comes from the events
or from the caller, never from the wall clock.
"""

from __future__ import annotations

__version__ = "0.1.0"
