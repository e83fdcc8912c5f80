"""The metrics stream a UI polls: bounded, thread-safe, cheap to read."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar


@dataclass(frozen=True)
class StepRecord:
    """One update: its number, epoch, mini-batch loss and learning rate."""

    step: int
    epoch: int
    loss: float
    learning_rate: float


@dataclass(frozen=True)
class EpochRecord:
    """End of an epoch: losses, the metric (accuracy or R²), speed, per-layer norms and the test score."""

    epoch: int
    step: int
    train_loss: float
    val_loss: float | None
    train_metric: float | None
    val_metric: float | None
    learning_rate: float
    examples_per_second: float
    seconds: float  # since the job started
    weight_norms: dict[str, float] = field(default_factory=dict)  # per node id
    grad_norms: dict[str, float] = field(default_factory=dict)
    # Scored only when there is no validation split (as in Playground); None otherwise
    test_loss: float | None = None
    test_metric: float | None = None
    # Per-step class targets (tagging, seq2seq): the metric fields above are token accuracy over real
    # (unpadded) steps; these are the share of whole sequences right at every step (exact match),
    # with teacher forcing for seq2seq. None for other data.
    train_sequence_metric: float | None = None
    val_sequence_metric: float | None = None
    test_sequence_metric: float | None = None
    # Seq2seq only: exact match of greedy decoding (the model reads its own outputs, as when it
    # translates something new) on up to DECODE_EVAL_LIMIT examples of the held-out split the
    # record shows (validation, else test).
    decoded_sequence_metric: float | None = None


Record = TypeVar("Record")


class Series(Generic[Record]):
    """A list kept under `capacity` by dropping every other old point and sampling new ones sparser."""

    def __init__(self, capacity: int):
        self.capacity = max(4, capacity)
        self.items: list[Record] = []
        self.stride = 1
        self._seen = 0

    def add(self, item: Record) -> None:
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        self.items.append(item)
        if len(self.items) > self.capacity:
            self.items = self.items[::2]
            self.stride *= 2


class MetricsStream:
    """Per-step and per-epoch records plus snapshots, written by the trainer, read by anyone."""

    def __init__(self, max_points: int = 2000, max_snapshots: int = 200):
        self._lock = threading.Lock()
        self._steps: Series[StepRecord] = Series(max_points)
        self._epochs: Series[EpochRecord] = Series(max_points)
        self._snapshots: Series[tuple[int, object]] = Series(max_snapshots)
        self.version = 0  # bumps on every write: a poller can skip redrawing when unchanged

    def add_steps(self, records: list[StepRecord]) -> None:
        with self._lock:
            for record in records:
                self._steps.add(record)
            self.version += 1

    def add_epoch(self, record: EpochRecord) -> None:
        with self._lock:
            self._epochs.add(record)
            self.version += 1

    def add_snapshot(self, epoch: int, flat_weights) -> None:
        """Keep a copy of all weights as one flat vector (the optimizer's path for loss landscapes)."""
        with self._lock:
            self._snapshots.add((epoch, flat_weights))

    def steps(self) -> list[StepRecord]:
        with self._lock:
            return list(self._steps.items)

    def epochs(self) -> list[EpochRecord]:
        with self._lock:
            return list(self._epochs.items)

    def snapshots(self) -> list[tuple[int, object]]:
        with self._lock:
            return list(self._snapshots.items)
