"""Background computations for the pages: long probes (a refined loss landscape, activation
maximisation, histograms replayed over epochs, companion runs) run off the page's script run, report
their progress, can be cancelled, and never outlive the page that asked for them.

`submit(work)` runs `work(reporter)` in a daemon thread and returns a `BackgroundTask` at once.
The work calls `reporter.progress(done, total)` now and then (that is where a cancel takes effect:
it raises `Cancelled`) and may publish intermediate results with `reporter.partial(result)` (a
coarse grid before the fine one). At most `DLBUILDER_MAX_TASKS` tasks (default 2) compute at
once on the server; the others wait their turn in "queued". A task whose page has stopped calling
`heartbeat()` for `heartbeat_timeout` seconds cancels itself at its next progress report.

Work runs in the server process: give it objects of its own (a copy of the model), never ones the
page's script run also uses. Torch releases Python's GIL inside its kernels, and the server keeps
torch at one thread (`training.device.set_worker_threads`), so a probe takes at most one core.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)
HEARTBEAT_TIMEOUT = 30.0  # seconds without a page asking after the task before it cancels itself
DEFAULT_MAX_TASKS = 2


class Cancelled(Exception):
    """Raised inside the work by `Reporter.progress` once the task was cancelled."""


@dataclass(frozen=True)
class Progress:
    done: float
    total: float
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, self.done / self.total)) if self.total > 0 else 0.0


def max_tasks_from_env() -> int:
    text = os.environ.get("DLBUILDER_MAX_TASKS", "")
    return int(text) if text.isdigit() and 0 < int(text) <= 64 else DEFAULT_MAX_TASKS


_SLOTS = threading.BoundedSemaphore(max_tasks_from_env())  # tasks computing at once, server-wide
_LIVE: weakref.WeakSet = weakref.WeakSet()  # unfinished tasks, cancelled at exit
EXIT_WAIT_SECONDS = 5.0


class Reporter:
    """What the work sees of its task: progress (the cancel point) and intermediate results."""

    def __init__(self, task: BackgroundTask):
        self._task = task

    def progress(self, done: float, total: float, message: str = "") -> None:
        """Record progress; raises Cancelled if the task was cancelled or its page went away."""
        self._task._set_progress(Progress(float(done), float(total), message))
        self._task._check()

    def partial(self, result: Any) -> None:
        """Publish an intermediate result: the page draws it until a later one or the final result."""
        self._task._partial = result
        self._task._check()


class BackgroundTask:
    """One computation in a thread of its own: status, progress, partial and final result, error."""

    def __init__(self, work: Callable[[Reporter], Any], label: str, heartbeat_timeout: float = HEARTBEAT_TIMEOUT,
                 slots: threading.Semaphore | None = None):
        self.label = label
        self.status = "queued"  # -> running -> done | cancelled | error
        self.error: str | None = None  # a message for the student when status is "error"
        self.result: Any = None
        self.started = time.monotonic()
        self.seconds = 0.0  # computing time, once finished
        self._work = work
        self._partial: Any = None
        self._progress = Progress(0, 0, "waiting for a free slot")
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._beat = time.monotonic()
        self._timeout = heartbeat_timeout
        self._slots = slots if slots is not None else _SLOTS
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"dlbuilder-task-{label}", daemon=True)
        _LIVE.add(self)
        self._thread.start()

    # -- what pages call -----------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return not self._finished.is_set()

    @property
    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    @property
    def partial(self) -> Any:
        """The latest intermediate result (None before the first), or the final one once done."""
        return self.result if self.status == "done" else self._partial

    def heartbeat(self) -> None:
        self._beat = time.monotonic()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the task has finished (done, cancelled or failed); False on timeout."""
        return self._finished.wait(timeout)

    # -- the thread ------------------------------------------------------------------------------

    def _set_progress(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress

    def _check(self) -> None:
        if time.monotonic() - self._beat > self._timeout:
            self._cancel.set()  # nobody is looking any more: free the slot
        if self._cancel.is_set():
            raise Cancelled()

    def _run(self) -> None:
        try:
            while not self._slots.acquire(timeout=0.2):
                self._check()
        except Cancelled:
            self._finish("cancelled")
            return
        try:
            self.status = "running"
            self._set_progress(Progress(0, 0, "started"))
            tick = time.monotonic()
            result = self._work(Reporter(self))
            self.seconds = time.monotonic() - tick
            self.result = result
            self._finish("done")
        except Cancelled:
            self._finish("cancelled")
        except ValueError as error:  # the engine's probes say what to change in their ValueErrors
            self.error = str(error)
            self._finish("error")
        except Exception:  # anything else: logged for the host, a plain message for the student
            LOG.exception("background task %s failed", self.label)
            self.error = f"{self.label} failed unexpectedly. Press its button to try again."
            self._finish("error")
        finally:
            self._slots.release()

    def _finish(self, status: str) -> None:
        self.status = status
        self._work = None  # drop the closure (a model copy) as soon as it is done
        self._finished.set()


def cancel_all(wait: float = EXIT_WAIT_SECONDS) -> None:
    """Cancel every unfinished task and wait up to `wait` seconds for them (tests, server exit).

    A thread still inside a torch kernel when the interpreter exits aborts the process, so the
    server (and pytest) let them reach their next progress report first."""
    live = list(_LIVE)
    for task in live:
        task.cancel()
    deadline = time.monotonic() + wait
    for task in live:
        task.wait(max(0.0, deadline - time.monotonic()))


atexit.register(cancel_all)


def publish_levels(levels: Callable[[Callable[[int, int], None]], Any], reporter: Reporter,
                   message: str = "scoring grid points") -> Any:
    """Run a progressive computation (`levels(report)` yields coarse to fine results, calling
    `report(done, total)` as it goes), publishing each result as it arrives; the last is returned."""
    latest = None
    for latest in levels(lambda done, total: reporter.progress(done, total, message)):
        reporter.partial(latest)
    return latest


def submit(work: Callable[[Reporter], Any], label: str, heartbeat_timeout: float = HEARTBEAT_TIMEOUT) -> BackgroundTask:
    """Start `work(reporter)` in the background; returns its task at once."""
    return BackgroundTask(work, label, heartbeat_timeout)
