"""The served replay (reports + label revisions through ScoringService) computes what the
offline recalibration replay measures; the Kafka partition of a district key."""

from __future__ import annotations

from datetime import UTC, timedelta

import numpy as np
import pytest

from models.arrest.calibration import OnlineCalibrator, replay
from models.arrest.metrics import ece
from models.arrest.runtime import ArrestScorer
from models.arrest.served_replay import kafka_partition, served_replay
from models.arrest.service import ScoringService
from patrol.incidents.parse import read_csv
from patrol.incidents.profile import CityProfile
from patrol.incidents.schema import Incident
from simulators.settings import SAMPLE


@pytest.fixture(scope="module")
def sample_incidents(chicago: CityProfile) -> list[Incident]:
    """4,000 labelled sample incidents of the types the model scores, in event-time order."""
    fixed = ArrestScorer().card["excluded_types"]
    rows = read_csv(SAMPLE, chicago, locate=False).incidents
    rows = [i for i in rows if i.arrest is not None and (i.primary_type or "") not in fixed]
    rows.sort(key=lambda i: i.occurred_at)
    return rows[:4000]


def test_served_replay_equals_the_offline_replay(sample_incidents: list[Incident]) -> None:
    delay = timedelta(days=1)
    service = ScoringService(calibration_lr=0.05, min_group_labels=20)
    got = served_replay(sample_incidents, service, delay=delay, batch=37)
    raw = ArrestScorer().score_many(sample_incidents)
    labels = np.array([bool(i.arrest) for i in sample_incidents])
    want = replay(
        np.array([i.occurred_at.astimezone(UTC).replace(tzinfo=None) for i in sample_incidents],
                 dtype="datetime64[ns]"),
        np.array([i.primary_type or "" for i in sample_incidents]),
        raw,
        labels,
        delay=np.timedelta64(1, "D"),
        calibrator=OnlineCalibrator(lr=0.05, min_group_labels=20),
    )  # fmt: skip
    assert got.scores.tolist() == raw.tolist()
    assert got.labels.tolist() == labels.tolist()
    np.testing.assert_allclose(got.calibrated, want, rtol=0, atol=1e-12)
    assert not np.allclose(got.calibrated, raw)  # the labels did move the served scores
    assert got.learned == len(sample_incidents)  # every revision is fed, the last day's too
    assert ece(labels, got.calibrated) < ece(labels, got.scores)


def test_partitioned_calibrators_learn_only_their_districts(
    sample_incidents: list[Incident],
) -> None:
    one = served_replay(sample_incidents, ScoringService(), delay=timedelta(days=1))
    four = served_replay(sample_incidents, ScoringService(), delay=timedelta(days=1), partitions=4)
    assert one.learned == four.learned  # the same labels, split over four calibrators
    assert four.scores.tolist() == one.scores.tolist()
    assert not np.array_equal(four.calibrated, one.calibrated)


def test_kafka_partition_is_the_producers_choice() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    all_parts = list(range(4))
    for district in ["1", "8", "11", "25", "031"]:
        want = DefaultPartitioner()(district.encode(), all_parts, all_parts)
        assert kafka_partition(district, 4) == want
    assert kafka_partition("8", 1) == 0 and kafka_partition(None, 4) == 0
