"""An offline worker app with the API attached (no broker): topics and table replaced by fakes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from simulators.settings import Settings

TOKENS = "dispatch-token-0123=dispatch,admin-token-4567=admin"


@dataclass
class FakeMessage:
    key: bytes | None
    value: bytes | None
    topic: str = "in"
    partition: int = 0
    offset: int = 0


class FakeTopic:
    """Records what is sent; ``send`` returns an already delivered future, like Faust's."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(
        self, *, key: bytes | None, value: bytes, headers: Any = None, force: bool = False
    ) -> Any:
        self.sent.append((key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@pytest.fixture
def offline_worker(tmp_path: Path) -> Callable[..., Any]:
    """``offline_worker(**settings)``: a PatrolStreamApp whose web server has the API."""
    from streams.app import create_app

    def make(**settings: Any) -> Any:
        base: dict[str, Any] = {"app_id": "offline-api", "store": "memory://",
                                "data_dir": str(tmp_path), "web_port": 6199,
                                "api_tokens": TOKENS, "arrest_model": "none"}  # fmt: skip
        base.update(settings)
        app = create_app(Settings().override(**base))
        app.history = {}
        app.routes_topic = FakeTopic()
        app.valid_topic = FakeTopic()
        app.dlq_topic = FakeTopic()
        return app

    return make


@pytest.fixture(scope="module")
def district8(slicer: Callable[[set[str], int], str], chicago: CityProfile) -> list[Any]:
    """Real incidents of district 8, 1-4 Sept 2016, in event-time order."""
    batch = read_csv(io.StringIO(slicer({"008"}, 4)), chicago)
    return sorted(batch.incidents, key=lambda i: i.occurred_at)


@pytest.fixture
def fake_message() -> type[FakeMessage]:
    return FakeMessage
