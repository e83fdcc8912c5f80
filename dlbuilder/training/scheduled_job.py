"""A job as the scheduler keeps it: waiting in the queue, then a backend's handle (see scheduler.py)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from dlbuilder.document import Document
from dlbuilder.training.cost import JobCost
from dlbuilder.training.job import ACTIVE, JobSnapshot
from dlbuilder.training.metrics import MetricsStream

POLL_SECONDS = 0.2
_ids = itertools.count(1)


@dataclass(frozen=True)
class QueuePlace:
    """A waiting job's place: how many runs start before it, and about when it starts (seconds)."""

    ahead: int
    seconds: float


class ScheduledJob:
    """A job as its page sees it: "queued" until its turn, then whatever its backend handle says.

    Same interface as the runners' handles (snapshot, pause, resume, step_once, stop, heartbeat,
    wait, state_dict, bundle, metrics, active, stopping), plus `queue()` while it waits.
    """

    def __init__(self, scheduler, document: Document, session: str, cost: JobCost):
        self.id = next(_ids)
        self.document, self.session, self.cost = document, session, cost
        self.inner = None  # the backend's handle, once dispatched
        self.submitted = time.monotonic()
        self.started: float | None = None
        self._scheduler = scheduler
        self._status, self._message = "queued", ""
        self._paused = False
        self._steps = 0  # step_once given while queued
        self._metrics = MetricsStream()
        self._last_beat = time.monotonic()
        self._done = threading.Event()

    # -- what pages read --------------------------------------------------------------------

    @property
    def status(self) -> str:
        return self.inner.status if self.inner is not None else self._status

    @property
    def message(self) -> str:
        return self.inner.message if self.inner is not None else self._message

    @property
    def metrics(self):
        return self.inner.metrics if self.inner is not None else self._metrics

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def stopping(self) -> bool:
        return self.inner.stopping if self.inner is not None else False

    @property
    def device(self) -> str:
        return self.cost.device

    def queue(self) -> QueuePlace | None:
        """Runs ahead and about how long until this one starts (None once it has left the queue)."""
        return self._scheduler.place(self) if self.inner is None and self._status == "queued" else None

    def snapshot(self) -> JobSnapshot:
        if self.inner is not None:
            return self.inner.snapshot()
        return JobSnapshot(status=self._status, message=self._message, epoch=0, step=0, updates_per_epoch=0,
                           total_epochs=self.document.training["epochs"], info={}, best_epoch=None,
                           patience_wait=None)

    def bundle(self):
        return self.inner.bundle() if self.inner is not None else None

    def state_dict(self, timeout: float = 0.5):
        return self.inner.state_dict(timeout) if self.inner is not None else None

    # -- control ----------------------------------------------------------------------------

    def heartbeat(self) -> None:
        self._last_beat = time.monotonic()
        if self.inner is not None:
            self.inner.heartbeat()

    def pause(self) -> None:
        self._forward("pause", paused=True)

    def resume(self) -> None:
        self._forward("resume", paused=False)

    def step_once(self) -> None:
        self._forward("step_once", paused=True, steps=1)

    def _forward(self, command: str, paused: bool, steps: int = 0) -> None:
        with self._scheduler._lock:  # (the dispatcher may be starting it right now)
            if self.inner is None:
                self._paused, self._steps = paused, self._steps + steps
                return
        getattr(self.inner, command)()

    def stop(self) -> None:
        with self._scheduler._lock:
            if self.inner is None:
                self._leave("stopped", "stopped before it started (it was waiting in the queue)")
                return
        self.inner.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended (or left the queue); True if it did within `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.inner is None:
            left = None if deadline is None else deadline - time.monotonic()
            if self._done.wait(POLL_SECONDS if left is None else max(0.0, min(POLL_SECONDS, left))):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return self.inner.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # -- the scheduler's side ---------------------------------------------------------------

    def _leave(self, status: str, message: str) -> None:
        """Leave the queue without running (caller holds the scheduler's lock)."""
        self._status, self._message = status, message
        self._scheduler._forget(self)
        self._done.set()

    def _launch(self, handle) -> None:
        if self._paused:
            handle.pause()  # (commands before the worker exists are kept by every backend)
        for _ in range(self._steps):
            handle.step_once()
        handle.heartbeat()
        self.started = time.monotonic()
        self.inner = handle
        handle.start()

    def remaining_seconds(self, correction: float) -> float:
        """About how long until it ends: from its progress when it has some, else the estimate."""
        if self.inner is None:
            return self.cost.seconds * correction
        snapshot = self.inner.snapshot()
        total = max(1, snapshot.total_epochs * max(1, snapshot.updates_per_epoch))
        done = snapshot.epoch * max(1, snapshot.updates_per_epoch)
        done = max(done, snapshot.step)
        elapsed = time.monotonic() - (self.started or time.monotonic())
        if done > 0 and elapsed > 1.0:
            return elapsed * (total - done) / done
        return max(0.0, self.cost.seconds * correction - elapsed)
