"""Background training jobs behind a small runner interface (submit -> handle).

`ThreadRunner` runs each job in a daemon thread of this process. Pages only see
`Runner.submit` and `JobHandle`, so a process-pool or cluster runner can replace it.
Everything that reads the model (weights for the page, the final checkpoint) is served by the
training thread itself between two updates, so nobody sees a half-done step.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Protocol

import torch

from dlbuilder.document import Document
from dlbuilder.training.device import set_worker_threads
from dlbuilder.training.metrics import EpochRecord, MetricsStream, StepRecord
from dlbuilder.training.trainer import Diverged, Trainer

ACTIVE = ("queued", "pending", "running", "paused")  # queued: waiting for the scheduler
ENDED = ("finished", "early_stopped", "stopped", "diverged", "error")
_ids = itertools.count(1)


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent view of a job for drawing: status, counters, info and metric copies."""

    status: str
    message: str
    epoch: int
    step: int
    updates_per_epoch: int
    total_epochs: int
    info: dict
    best_epoch: int | None
    patience_wait: int | None
    steps: list[StepRecord] = field(default_factory=list)
    epochs: list[EpochRecord] = field(default_factory=list)
    version: int = 0


def cpu_state_dict(model: torch.nn.Module) -> dict:
    """A detached CPU copy of the model's weights (safe to keep while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


class HandleBase:
    """What every job handle shares: liveness (heartbeats), waiting for the end, `active`, `stopping`."""

    status: str
    _last_beat: float
    _done: threading.Event
    _stop_asked: float | None = None  # when stop() was first called (monotonic seconds)

    def heartbeat(self) -> None:
        """Called by a live page; without beats for `heartbeat_timeout` seconds the job stops."""
        self._last_beat = time.monotonic()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has ended; True if it did within `timeout`."""
        return self._done.wait(timeout)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def stopping(self) -> bool:
        """Stop was asked for and the job has not ended yet (pages show "Stopping…")."""
        return self._stop_asked is not None and self.active

    def _note_stop(self) -> None:
        if self._stop_asked is None:
            self._stop_asked = time.monotonic()


class JobHandle(HandleBase):
    """Control and observe one job: snapshot / pause / resume / stop / step_once / wait.

    A thread cannot be killed: stop and the heartbeat act between two updates, so one very long
    step (a huge network or batch) delays them until it is done. `ProcessJobHandle` can end a
    worker by force; use that runner wherever a job may take long steps.
    """

    def __init__(self, document: Document, device: str | None = None, heartbeat_timeout: float | None = None):
        self.id = next(_ids)
        self.document = document
        self.metrics = MetricsStream()
        self.status = "pending"
        self.message = ""
        self.trainer: Trainer | None = None
        self.heartbeat_timeout = heartbeat_timeout
        self._device = device
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._paused = False
        self._stop = False
        self._single_steps = 0
        self._weights_wanted = False
        self._weights: dict | None = None  # the last copy the training thread made
        self._weights_served = 0  # how many copies it has made
        self._final: dict | None = None  # the weights once the job has ended
        self._last_beat = time.monotonic()
        self._done = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"dlbuilder-job-{self.id}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    # -- control (any thread) -----------------------------------------------------------------

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            self._wake.notify_all()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            self._wake.notify_all()

    def stop(self) -> None:
        with self._lock:
            self._note_stop()
            self._stop = True
            self._wake.notify_all()

    def step_once(self) -> None:
        """While paused: do exactly one more mini-batch update."""
        with self._lock:
            self._paused = True
            self._single_steps += 1
            self._wake.notify_all()

    def bundle(self):
        """The dataset as generated for this job (None until it has started)."""
        return self.trainer.setup.bundle if self.trainer else None

    def request_weights(self) -> None:
        """Ask the training thread for a copy of the weights, made after its current update."""
        with self._lock:
            self._weights_wanted = True
            self._wake.notify_all()

    def served_weights(self) -> tuple[int, dict | None]:
        """(how many copies were made, the latest copy): what `request_weights` produced."""
        with self._lock:
            return self._weights_served, self._weights

    def state_dict(self, timeout: float = 0.5) -> dict | None:
        """The weights as of the last finished update (a CPU copy); the final ones once the job has ended.

        While the job runs, the training thread makes the copy between two updates (waiting at
        most `timeout` seconds; after that the previous copy, or None, comes back).
        """
        if self.trainer is None:
            return None
        if self._done.is_set():
            return self._final_weights()
        with self._lock:
            wanted = self._weights_served + 1
            self._weights_wanted = True
            self._wake.notify_all()
            self._wake.wait_for(lambda: self._weights_served >= wanted or self._done.is_set(), timeout)
            if self._weights_served >= wanted:
                return self._weights
        return self._final_weights() if self._done.is_set() else self._weights

    def _final_weights(self) -> dict | None:
        trainer = self.trainer  # (None after an out-of-memory error)
        if self._final is None and trainer is not None:  # nothing trains any more: read the model itself
            self._final = cpu_state_dict(trainer.setup.model)
        return self._final

    def snapshot(self) -> JobSnapshot:
        trainer = self.trainer
        stopping = trainer.stopping if trainer else None
        return JobSnapshot(
            status=self.status, message=self.message,
            epoch=trainer.epoch if trainer else 0, step=trainer.step_count if trainer else 0,
            updates_per_epoch=trainer.updates_per_epoch if trainer else 0,
            total_epochs=self.document.training["epochs"],
            info=dict(trainer.setup.info) if trainer else {},
            best_epoch=stopping.best_epoch if stopping else None,
            patience_wait=stopping.wait if stopping else None,
            steps=self.metrics.steps(), epochs=self.metrics.epochs(), version=self.metrics.version)

    # -- the worker thread ----------------------------------------------------------------------

    def _run(self) -> None:
        set_worker_threads()
        try:
            self.trainer = Trainer(self.document, device=self._device, metrics=self.metrics)
            self.status = "running"
            self._loop(self.trainer)
        except Diverged as error:
            self._end("diverged", str(error))
        except torch.cuda.OutOfMemoryError:
            self._release()
            self._end("error", "the GPU ran out of memory: use a smaller batch size or a smaller network")
        except Exception as error:  # any failure becomes a visible status, never a dead thread
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            self._end("error", f"training stopped with an error: {detail[:400]}")
        finally:
            with self._lock:
                self._done.set()
                self._wake.notify_all()  # a state_dict() waiting for a copy reads the final weights

    def _loop(self, trainer: Trainer) -> None:
        while True:
            action = self._next_action()
            if action == "weights":
                self._serve_weights(trainer)
            elif action == "stop":
                trainer.flush()
                self._end("stopped", self.message or f"stopped by the user at epoch {trainer.epoch}")
                return
            elif not trainer.step():
                status = "early_stopped" if trainer.stopping and trainer.stopping.stopped_epoch else "finished"
                self._end(status, trainer.stop_reason)
                return

    def _next_action(self) -> str:
        """"step", "weights" (copy them first) or "stop" (asked to, or the page went away); waits while paused."""
        with self._lock:
            while True:
                if self._stop:
                    return "stop"
                if self.heartbeat_timeout and time.monotonic() - self._last_beat > self.heartbeat_timeout:
                    self.message = "stopped: its page has been closed (no heartbeat)"
                    return "stop"
                if self._weights_wanted:
                    return "weights"
                if not self._paused:
                    self.status = "running"
                    return "step"
                if self._single_steps:
                    self._single_steps -= 1
                    return "step"
                if self.status != "paused" and self.trainer is not None:
                    self.trainer.flush()  # the paused view shows every update made so far
                self.status = "paused"
                self._wake.wait(timeout=1.0)

    def _serve_weights(self, trainer: Trainer) -> None:
        """Between two updates: bring the torch model up to date (fast path) and publish a CPU copy."""
        trainer.flush()
        state = cpu_state_dict(trainer.setup.model)
        with self._lock:
            self._weights, self._weights_served = state, self._weights_served + 1
            self._weights_wanted = False
            self._wake.notify_all()

    def _end(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    def _release(self) -> None:
        self.trainer, self._weights = None, None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class Runner(Protocol):
    """What pages use to start jobs; implementations decide where the work runs."""

    def submit(self, document: Document, device: str | None = None) -> JobHandle: ...

    def active_jobs(self) -> list[JobHandle]: ...

    def shutdown(self, timeout: float = 5.0) -> None: ...


class ThreadRunner:
    """Runs jobs in threads of this process, at most `max_active` at once.

    Stop and the heartbeat act between two updates: Python cannot kill a thread, so a job stuck in
    one long step ends only when that step does, and its memory stays until then. The server uses
    `ProcessRunner`, which can terminate a worker; this runner is for notebooks, the CLI and tests.
    """

    handle_type = JobHandle

    def __init__(self, max_active: int = 8, heartbeat_timeout: float | None = None):
        self.max_active = max_active
        self.heartbeat_timeout = heartbeat_timeout
        self._jobs: list[JobHandle] = []
        self._lock = threading.Lock()

    def submit(self, document: Document, device: str | None = None) -> JobHandle:
        """Start training `document` in the background; raise RuntimeError when the server is full."""
        with self._lock:
            self._jobs = [job for job in self._jobs if job.active]
            if len(self._jobs) >= self.max_active:
                raise RuntimeError(f"the server is already training {self.max_active} networks: "
                                   "wait a moment and start again")
            job = self.handle_type(document, device=device, heartbeat_timeout=self.heartbeat_timeout)
            self._jobs.append(job)
        job.start()
        return job

    def active_jobs(self) -> list[JobHandle]:
        with self._lock:
            return [job for job in self._jobs if job.active]

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every job and wait for them to end."""
        for job in self.active_jobs():
            job.stop()
        for job in list(self._jobs):
            job.wait(timeout)
