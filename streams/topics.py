"""Topic names of the streaming runtime (design.md) and their creation with the admin client.

Faust only picks up a source topic that exists when the worker joins its consumer group (a
topic created later is seen at the next metadata refresh), so :func:`ensure_topics` creates
every topic the worker reads or writes before the worker starts.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import astuple, dataclass

INCIDENTS = "patrol.incidents.v1"
"""Incident events (JSON, design.md "Incident event"), keyed by district."""
VALID = "patrol.incidents.valid.v1"
"""Validated incidents re-keyed by their (placed) district: what the state agent consumes."""
DLQ = "patrol.incidents.dlq.v1"
"""Dead letters: ``{reason, field, detail, original (base64), topic, partition, offset, ...}``."""
ROUTES = "patrol.routes.v1"
"""Routes as GeoJSON (design.md "Route"), keyed ``district/shift``."""
SCORES = "patrol.scores.v1"
"""Arrest scores ``{id, district, occurred_at, score, calibrated_score, model_version}``, keyed
by incident id (:mod:`streams.scoring`)."""


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The worker's topics, optionally prefixed (tests isolate themselves with a prefix).

    Examples
    --------
    >>> TopicNames.with_prefix("t1.").routes
    't1.patrol.routes.v1'
    """

    incidents: str = INCIDENTS
    valid: str = VALID
    dlq: str = DLQ
    routes: str = ROUTES
    scores: str = SCORES

    @classmethod
    def with_prefix(cls, prefix: str) -> TopicNames:
        """All names with ``prefix`` prepended."""
        return cls(*(prefix + name for name in astuple(cls())))

    def all(self) -> tuple[str, ...]:
        """Every name, in declaration order."""
        return tuple(astuple(self))


def bootstrap_servers(broker: str) -> str:
    """``host:port[,host:port]`` from a Faust broker URL (``kafka://a:9092;kafka://b:9092``).

    Examples
    --------
    >>> bootstrap_servers("kafka://localhost:9092")
    'localhost:9092'
    >>> bootstrap_servers("kafka://a:1;kafka://b:2")
    'a:1,b:2'
    """
    parts = [p.strip() for chunk in broker.split(";") for p in chunk.split(",")]
    return ",".join(p.split("://", 1)[-1] for p in parts if p)


async def ensure_topics(
    bootstrap: str,
    names: tuple[str, ...],
    partitions: int,
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the topics that do not exist yet and wait until the broker lists them.

    Returns the names created. Existing topics are left as they are (their partition count
    is not checked here: the worker logs what it finds).
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        async with asyncio.timeout(timeout_s):
            existing = set(await admin.list_topics())
            missing = [n for n in names if n not in existing]
            if missing:
                new = [NewTopic(n, partitions, replication_factor) for n in missing]
                with contextlib.suppress(TopicAlreadyExistsError):  # another worker was faster
                    await admin.create_topics(new)
            while missing:
                described = await admin.describe_topics(missing)
                if all(d["error_code"] == 0 and d["partitions"] for d in described):
                    break
                await asyncio.sleep(0.1)
            return missing
    finally:
        await admin.close()
