"""An offline worker app with the API attached (no broker): topics and table replaced by fakes."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from streams.testing import FakeMessage, offline_app

TOKENS = "dispatch-token-0123=dispatch,admin-token-4567=admin"


@pytest.fixture
def offline_worker(tmp_path: Path) -> Callable[..., Any]:
    """``offline_worker(**settings)``: a PatrolStreamApp whose web server has the API."""

    def make(**settings: Any) -> Any:
        base = {"app_id": "offline-api", "web_port": 6199, "api_tokens": TOKENS,
                "arrest_model": "none"}  # fmt: skip
        return offline_app(tmp_path, **{**base, **settings})

    return make


@pytest.fixture(scope="module")
def district8(slicer: Callable[[set[str], int], str], chicago: CityProfile) -> list[Any]:
    """Real incidents of district 8, 1-4 Sept 2016, in event-time order."""
    batch = read_csv(io.StringIO(slicer({"008"}, 4)), chicago)
    return sorted(batch.incidents, key=lambda i: i.occurred_at)


@pytest.fixture
def fake_message() -> type[FakeMessage]:
    return FakeMessage
