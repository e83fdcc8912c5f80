"""One scheduler per server: a bounded pool of running jobs, a fair queue, admission and placement.

A class of 30 presses Start at the same moment. The scheduler
  * refuses, before anything runs, a job that would take longer than DLBUILDER_MAX_JOB_MINUTES here
    (`cost.refusal`: the estimate and what to shrink);
  * places it: `device=auto` trains small networks on the CPU and large ones on the GPU when the
    server has one, and a GPU job starts only while the running GPU jobs' estimated memory plus its
    own fits the budget (DLBUILDER_GPU_MEMORY_FRACTION of the device);
  * queues it with fair share: sessions take turns (round-robin over sessions, not first come first
    served), at most `per_session` running jobs per session (DLBUILDER_JOBS_PER_SESSION, default 1)
    and at most `max_running` on the server (DLBUILDER_MAX_JOBS);
  * tells each waiting job its place: runs ahead of it and about how long (`ScheduledJob.queue`);
  * drops a waiting job whose page stopped sending heartbeats, as a running job stops itself.

Jobs run on any backend with the runner's handle interface (thread, process, Ray): the scheduler
builds `handle_type(document, device=..., heartbeat_timeout=...)` itself when a job's turn comes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque

import torch

from dlbuilder.document import Document
from dlbuilder.training.cost import JobCost, env_int, estimate, gpu_budget_bytes, max_job_seconds, refusal
from dlbuilder.training.scheduled_job import QueuePlace, ScheduledJob

LOG = logging.getLogger(__name__)
POLL_SECONDS = 0.2  # the dispatcher looks at ended jobs, heartbeats and free slots this often
DEFAULT_QUEUED_PER_SESSION = 4  # a session's waiting jobs (a sweep submits a few at once)
MIN_GPU_SHARE = 0.05  # Ray: the smallest fraction of a GPU a job asks for


class Refused(RuntimeError):
    """The scheduler will not run this job; the message says why and what to change."""


class Scheduler:
    """Fair-share queue in front of a backend (`handle_type`: JobHandle, ProcessJobHandle, RayJobHandle)."""

    def __init__(self, handle_type, max_running: int = 4, per_session: int = 1,
                 queued_per_session: int = DEFAULT_QUEUED_PER_SESSION, heartbeat_timeout: float | None = None,
                 gpu_budget: int | None = None, max_seconds: float | None = None, follow_capacity: bool = False):
        self.handle_type = handle_type
        self.max_running, self.per_session, self.queued_per_session = max_running, per_session, queued_per_session
        self.heartbeat_timeout = heartbeat_timeout
        self.follow_capacity = follow_capacity
        self.gpu_budget = gpu_budget_bytes() if gpu_budget is None else gpu_budget
        self.max_seconds = max_job_seconds() if max_seconds is None else max_seconds
        self._lock = threading.RLock()
        self._queues: dict[str, deque[ScheduledJob]] = {}
        self._turns: deque[str] = deque()  # sessions with waiting jobs, in the order they arrived
        self._served: dict[str, int] = {}  # session -> when it last started a job (a counter): least recent first
        self._starts = 0
        self._running: list[ScheduledJob] = []
        self._correction = 1.0  # measured / estimated time of the jobs that finished here (a running mean)
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    @property
    def max_active(self) -> int:
        return self.limit()

    def limit(self) -> int:
        """Jobs that may run at once: `max_running`, or, on a backend with a `capacity` (a Ray cluster's
        CPUs) and no DLBUILDER_MAX_JOBS set, what that backend says it has now."""
        capacity = getattr(self.handle_type, "capacity", None) if self.follow_capacity else None
        return (capacity() or self.max_running) if capacity is not None else self.max_running

    # -- submitting -------------------------------------------------------------------------

    def submit(self, document: Document, session: str = "", device: str | None = None) -> ScheduledJob:
        """Queue a job for `session`; it starts when its turn comes. Raises Refused (the message says why)."""
        cost = self._cost(document, device)
        with self._lock:
            if self._closed.is_set():
                raise Refused("the server is shutting down: start again in a minute")
            queue = self._queues.setdefault(session, deque())
            if len(queue) >= self.queued_per_session:
                raise Refused(f"you already have {len(queue)} runs waiting: wait for them to start, or stop one")
            job = ScheduledJob(self, document, session, cost)
            queue.append(job)
            if session not in self._turns:
                self._turns.append(session)
            self._dispatch()
        self._ensure_thread()
        return job

    def for_session(self, session: str) -> SessionRunner:
        return SessionRunner(self, session)

    def _cost(self, document: Document, device: str | None) -> JobCost:
        """Estimate and place the job; Refused when it cannot run here (too long, too big for the GPU)."""
        chosen = device or document.training.get("device", "auto")
        if chosen == "cuda" and self.gpu_budget <= 0:
            raise Refused("device 'cuda' was chosen but this server has no CUDA GPU: pick auto or cpu")
        try:
            cost = estimate(document, chosen if chosen in ("cpu", "cuda") else None, gpu=self.gpu_budget > 0)
        except ValueError as error:
            raise Refused(f"The network has problems; fix them on the Build page: {error}") from None
        if cost.device == "cuda" and cost.memory_bytes > self.gpu_budget:
            if chosen == "cuda":
                raise Refused(f"one training step needs about {cost.memory_bytes / 2**30:.1f} GiB of GPU memory; "
                              f"this server lends a job at most {self.gpu_budget / 2**30:.1f} GiB: "
                              "use a smaller batch size or a smaller network")
            cost = estimate(document, "cpu")  # too big for the GPU's share: it trains on the CPU
        why = refusal(cost, self.max_seconds)
        if why:
            raise Refused(why)
        return cost

    # -- dispatching (under the lock) ---------------------------------------------------------

    def _dispatch(self) -> None:
        """Reap ended jobs, drop abandoned waiting ones, start jobs while slots are free."""
        ended = [job for job in self._running if not job.inner.active]
        for job in ended:
            self._running.remove(job)
            self._learn(job)
        if ended:  # forget sessions with nothing left here (a returning one counts as new)
            live = set(self._queues) | {job.session for job in self._running}
            self._served = {session: when for session, when in self._served.items() if session in live}
        if self.heartbeat_timeout:
            now = time.monotonic()
            for queue in list(self._queues.values()):
                for job in [job for job in queue if now - job._last_beat > self.heartbeat_timeout]:
                    job._leave("stopped", "stopped: its page was closed while it waited in the queue")
        while len(self._running) < self.limit():
            job = self._next()
            if job is None:
                return
            self._start(job)

    def _next(self) -> ScheduledJob | None:
        """The head of the first session, in turn order, that may start a job now; its turn passes."""
        running = {}
        gpu_used = 0
        for job in self._running:
            running[job.session] = running.get(job.session, 0) + 1
            gpu_used += job.cost.memory_bytes if job.device == "cuda" else 0
        for session in self._turn_order():
            head = self._queues[session][0]
            if running.get(session, 0) >= self.per_session:
                continue
            if head.device == "cuda" and gpu_used + head.cost.memory_bytes > self.gpu_budget:
                continue  # waits for GPU memory; a CPU job behind it may go first
            self._queues[session].popleft()
            if not self._queues[session]:
                del self._queues[session]
                self._turns.remove(session)
            self._starts += 1
            self._served[session] = self._starts
            return head
        return None

    def _turn_order(self) -> list[str]:
        """Sessions with waiting jobs, the one served least recently first (never served: by arrival)."""
        return sorted(self._turns, key=lambda session: self._served.get(session, 0))

    def _start(self, job: ScheduledJob) -> None:
        extra = {}
        if getattr(self.handle_type, "accepts_gpu_share", False) and job.device == "cuda":
            total = torch.cuda.get_device_properties(0).total_memory if torch.cuda.is_available() else 1
            extra["gpu_share"] = min(1.0, max(MIN_GPU_SHARE, job.cost.memory_bytes / total))
        device = job.device if job.document.training.get("device", "auto") in ("auto", "cpu", "cuda") else None
        try:
            handle = self.handle_type(job.document, device=device, heartbeat_timeout=self.heartbeat_timeout, **extra)
            job._launch(handle)
        except Exception as error:  # noqa: BLE001 (a failed launch is that job's error, not the server's)
            LOG.exception("could not start job %s", job.id)
            job.inner = None
            job._status, job._message = "error", f"could not start the training worker ({error}): start again"
            job._done.set()
            return
        self._running.append(job)

    def _forget(self, job: ScheduledJob) -> None:
        queue = self._queues.get(job.session)
        if queue is not None and job in queue:
            queue.remove(job)
            if not queue:
                del self._queues[job.session]
                self._turns.remove(job.session)

    def _learn(self, job: ScheduledJob) -> None:
        """Fold a finished job's measured time into the correction the queue's estimates use."""
        snapshot = job.inner.snapshot()
        share = snapshot.epoch / max(1, snapshot.total_epochs)
        seconds = time.monotonic() - (job.started or time.monotonic())
        if snapshot.status in ("finished", "early_stopped") and share > 0 and seconds > 1.0:
            ratio = seconds / max(1e-3, job.cost.seconds * share)
            self._correction = min(20.0, max(0.05, 0.7 * self._correction + 0.3 * ratio))

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="dlbuilder-scheduler", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._closed.wait(POLL_SECONDS):
            try:
                with self._lock:
                    self._dispatch()
            except Exception:  # noqa: BLE001 (the dispatcher must outlive any one job's trouble)
                LOG.exception("scheduler round failed")

    # -- what pages and hosts read ------------------------------------------------------------

    def place(self, job: ScheduledJob) -> QueuePlace | None:
        """Runs that start before `job` (sessions taking turns) and about when it starts."""
        with self._lock:
            order = self._order()
            if job not in order:
                return None
            correction = self._correction
            slots = sorted(running.remaining_seconds(correction) for running in self._running)
            slots = [0.0] * max(0, self.limit() - len(slots)) + slots
            ahead = order.index(job)
            for waiting in order[:ahead]:  # each run ahead takes the slot that frees first
                slots.sort()
                slots[0] += waiting.cost.seconds * correction
            return QueuePlace(ahead=ahead, seconds=min(slots) if slots else 0.0)

    def _order(self) -> list[ScheduledJob]:
        """Every waiting job in the order turns would start them (GPU memory and caps aside)."""
        queues = {session: list(queue) for session, queue in self._queues.items()}
        order, turns = [], self._turn_order()
        while turns:
            session = turns.pop(0)
            order.append(queues[session].pop(0))
            if queues[session]:
                turns.append(session)  # (it has just been served: every other session comes first)
        return order

    def counts(self) -> dict[str, int]:
        """Running and waiting jobs, for the host's status line and the load bench."""
        with self._lock:
            return {"running": len(self._running), "queued": sum(len(q) for q in self._queues.values())}

    def active_jobs(self) -> list[ScheduledJob]:
        with self._lock:
            return [job for job in self._running if job.active] + self._order()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Drop every waiting job, stop every running one and wait for them."""
        self._closed.set()
        with self._lock:
            for job in self._order():
                job._leave("stopped", "the server is shutting down")
            running = list(self._running)
        for job in running:
            job.stop()
        for job in running:
            job.wait(timeout)


class SessionRunner:
    """The scheduler as one session's code sees it (a sweep): `submit(document)` queues for that session."""

    def __init__(self, scheduler: Scheduler, session: str):
        self.scheduler, self.session = scheduler, session

    @property
    def max_active(self) -> int:
        """Runs a sweep keeps submitted at once: one place is left for the Train page's own Start."""
        return max(1, self.scheduler.queued_per_session - 1)

    def submit(self, document: Document, device: str | None = None) -> ScheduledJob:
        return self.scheduler.submit(document, session=self.session, device=device)


def from_env(handle_type, heartbeat_timeout: float | None = None) -> Scheduler:
    """The server's scheduler, sized by DLBUILDER_MAX_JOBS and DLBUILDER_JOBS_PER_SESSION."""
    cores = os.cpu_count() or 2
    return Scheduler(handle_type, max_running=env_int("DLBUILDER_MAX_JOBS", default_max_running(cores)),
                     per_session=env_int("DLBUILDER_JOBS_PER_SESSION", 1),
                     queued_per_session=env_int("DLBUILDER_QUEUED_PER_SESSION", DEFAULT_QUEUED_PER_SESSION),
                     heartbeat_timeout=heartbeat_timeout,
                     follow_capacity="DLBUILDER_MAX_JOBS" not in os.environ)


def default_max_running(cores: int) -> int:
    """Jobs running at once by default: two per core (a tiny net's job is ~half waiting on its page)."""
    return max(2, 2 * cores)
