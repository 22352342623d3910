"""Every source message processed once and in order per consumer generation, despite Faust.

faust-streaming 0.15 can skip messages around table recovery: at the end of recovery it
resumes the source partitions, then seeks them to their committed offsets one round trip at
a time while the agents already consume, and its read-offset bookkeeping drops messages (seen
on this project's restart test after every restart with a non-empty changelog: 1-33 of 362
incidents never reached the agents; upstream reports faust-streaming/faust#216 and #221).
Re-seeking Faust's consumer does not help (its fetch loop drops whatever is below the read
offset it already advanced), so the agents keep their own account:

* :class:`OffsetTracker` knows, per source partition, the next offset the agent must process
  in the current generation (starting from the committed offset) and says whether a message
  is the expected one, an already processed redelivery, or comes after a hole;
* :class:`GapReader` reads the hole from Kafka directly (a plain consumer with manual
  assignment, no group), so the agent processes the missing messages, in order, before the
  one that revealed the hole. Offsets with no record (transaction markers) are simply absent.
* A hole with nothing after it is found by :meth:`OffsetTracker.behind` when the agent is
  idle but its partition's highwater is ahead; the worker then seeks Faust's consumer back
  (safe when idle: no stale fetch is in flight), and the messages arrive again.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any


class Admit(enum.Enum):
    """What to do with a message (see :meth:`OffsetTracker.admit`)."""

    PROCESS = "process"
    """The expected offset: process it."""
    SKIP = "skip"
    """Below the expected offset: already processed in this generation."""
    REPAIR = "repair"
    """Above the expected offset: read and process the hole first."""


class OffsetTracker:
    """The next offset to process per ``(topic, partition)``, reset at every rebalance.

    Examples
    --------
    >>> t = OffsetTracker()
    >>> t.admit(1, "in", 0, 41, committed=40)
    (<Admit.REPAIR: 'repair'>, 40)
    >>> t.processed("in", 0, 40); t.processed("in", 0, 41)
    >>> t.admit(1, "in", 0, 40)[0], t.admit(1, "in", 0, 42)[0]
    (<Admit.SKIP: 'skip'>, <Admit.PROCESS: 'process'>)
    >>> t.admit(2, "in", 0, 7)[0]  # a new generation starts from the committed offset
    <Admit.PROCESS: 'process'>
    """

    def __init__(self) -> None:
        self.generation: int | None = None
        self.expected: dict[tuple[str, int], int] = {}
        self.last_seen = time.monotonic()
        """When the agent last received a message (monotonic seconds)."""
        self.busy = False
        """Whether the agent is handling a message right now."""

    def admit(
        self,
        generation: int,
        topic: str,
        partition: int,
        offset: int,
        committed: int | None = None,
    ) -> tuple[Admit, int | None]:
        """Classify the message at ``offset``; with ``REPAIR``, also the first missing offset.

        ``committed`` is where the consumer started in this generation (the committed offset
        of the partition): the expected offset of the first message.
        """
        self.last_seen = time.monotonic()
        if generation != self.generation:
            self.generation = generation
            self.expected.clear()
        key = (topic, partition)
        expected = self.expected.get(key, committed)
        if expected is None or offset == expected:
            return Admit.PROCESS, None
        if offset < expected:
            return Admit.SKIP, None
        return Admit.REPAIR, expected

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """Record that the message at ``offset`` was handled."""
        self.expected[(topic, partition)] = offset + 1

    def idle(self, idle_s: float) -> bool:
        """Whether the agent has had nothing to do for ``idle_s`` seconds."""
        return not self.busy and time.monotonic() - self.last_seen >= idle_s

    def behind(
        self, generation: int, partitions: dict[tuple[str, int], tuple[int | None, int | None]]
    ) -> list[tuple[str, int, int]]:
        """``(topic, partition, next offset)`` of the partitions with messages never delivered.

        ``partitions`` maps each assigned source partition to its ``(committed, highwater)``
        offsets. Only meaningful when the agent is :meth:`idle`: then every message below the
        highwater should have reached it.
        """
        known = self.expected if generation == self.generation else {}
        out = []
        for key, (committed, highwater) in sorted(partitions.items()):
            nxt = known.get(key, committed)
            if nxt is not None and highwater is not None and nxt < highwater:
                out.append((key[0], key[1], nxt))
        return out


class GapReader:
    """Reads offset ranges of single partitions with its own consumer (created on first use).

    Parameters
    ----------
    bootstrap
        ``host:port[,host:port]`` of the brokers.
    timeout_s
        Longest time one :meth:`read` may take.
    """

    def __init__(self, bootstrap: str, timeout_s: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self._consumer: Any = None
        self._lock = asyncio.Lock()

    async def read(self, topic: str, partition: int, start: int, end: int) -> list[Any]:
        """The records at offsets ``start <= offset < end`` (aiokafka ``ConsumerRecord``)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        tp = TopicPartition(topic, partition)
        async with self._lock, asyncio.timeout(self.timeout_s):
            if self._consumer is None:
                self._consumer = AIOKafkaConsumer(
                    bootstrap_servers=self.bootstrap, enable_auto_commit=False
                )
                await self._consumer.start()
            consumer = self._consumer
            consumer.assign([tp])
            consumer.seek(tp, start)
            out: list[Any] = []
            while True:
                if await consumer.position(tp) >= end:
                    return out
                batch = await consumer.getmany(tp, timeout_ms=500)
                for rec in batch.get(tp, []):
                    if rec.offset >= end:
                        return out
                    if rec.offset >= start:
                        out.append(rec)

    async def close(self) -> None:
        """Stop the consumer, if it was started."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


def faust_message(rec: Any, tp: Any, generation_id: int) -> Any:
    """A Faust ``Message`` for an aiokafka record read by :class:`GapReader` (to be acked)."""
    from faust.types import Message

    return Message(
        topic=rec.topic,
        partition=rec.partition,
        offset=rec.offset,
        timestamp=rec.timestamp / 1000.0,
        timestamp_type=rec.timestamp_type,
        headers=rec.headers,
        key=rec.key,
        value=rec.value,
        checksum=rec.checksum,
        serialized_key_size=rec.serialized_key_size,
        serialized_value_size=rec.serialized_value_size,
        tp=tp,
        generation_id=generation_id,
    )
