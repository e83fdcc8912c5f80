"""Running a planned sweep: vectorised groups in this thread, the other runs as jobs of a runner.

    outcome = run_sweep(plan_sweep(spec), runner=ThreadRunner(), reporter=reporter)

One loop interleaves everything: it keeps up to `max_jobs` separate runs training as jobs of the
server's runner (which also enforces the server's own cap: when it is full the runs wait), trains one
epoch of the current vectorised group (or of a run trained here when there is no runner), heartbeats
and reads the jobs, and reports. `reporter` (see `dlbuilder.tasks`) gets progress (where a cancel
takes effect) and the results so far; whatever way a sweep ends, none of its jobs outlives it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dlbuilder.experiments.group import NotBatchable, VectorisedGroup
from dlbuilder.experiments.plan import SweepPlan
from dlbuilder.experiments.results import RunResult, RunState, SweepProgress
from dlbuilder.training.trainer import Diverged, Trainer

MAX_JOBS = 2  # separate runs of one sweep training at once (the runner's own cap also applies)
REPORT_SECONDS = 0.5  # results are published at most this often (and whenever a run ends)
POLL_SECONDS = 0.1  # wait between two looks at the jobs when nothing trains in this thread
LOCAL_SLICE_SECONDS = 0.5  # a run trained here gives the loop back at least this often
CANCELLED = "the sweep was cancelled"


@dataclass(frozen=True)
class SweepOutcome:
    """The plan and every run's result so far; `complete` once every run has ended."""

    plan: SweepPlan
    results: tuple[RunResult, ...]
    complete: bool


class LocalRun:
    """A separate run trained in the sweep's own thread (no runner: notebooks, tests, the CLI)."""

    def __init__(self, state: RunState):
        self.state, self.trainer, self.done = state, None, False

    def advance(self) -> None:
        """Train until the next epoch ends (or LOCAL_SLICE_SECONDS pass)."""
        state = self.state
        try:
            if self.trainer is None:
                state.begin("separate run")
                self.trainer = Trainer(state.run.document, metrics=state.metrics)
                state.metric_name = self.trainer.setup.metric_name
            trainer, epoch, until = self.trainer, self.trainer.epoch, time.monotonic() + LOCAL_SLICE_SECONDS
            while trainer.step() and trainer.epoch == epoch and time.monotonic() < until:
                pass
        except Diverged as error:
            self._end("diverged", str(error))
            return
        except (ValueError, RuntimeError) as error:  # TrainingError, out of memory: a status, not a crash
            self._end("error", f"training stopped with an error: {str(error)[:300]}")
            return
        if trainer.done:
            stopped = trainer.stopping is not None and trainer.stopping.stopped_epoch
            self._end("early_stopped" if stopped else "finished", trainer.stop_reason)

    def _end(self, status: str, message: str) -> None:
        self.state.end(status, message)
        self.done, self.trainer = True, None

    def stop(self, message: str) -> None:
        if not self.done:
            self._end("stopped", message)


class JobRun:
    """A separate run as a job of the server's runner (a worker process there): polled, heartbeated."""

    def __init__(self, state: RunState, handle):
        self.state, self.handle, self.done = state, handle, False
        state.metrics = handle.metrics
        state.begin("separate job")

    def poll(self) -> None:
        handle = self.handle
        handle.heartbeat()
        snapshot = handle.snapshot()
        self.state.metric_name = snapshot.info.get("metric", self.state.metric_name)
        if not handle.active:
            self.state.end(snapshot.status, snapshot.message)
            self.done = True

    def stop(self, message: str) -> None:
        if not self.done:
            self.handle.stop()
            self.state.end("stopped", message)
            self.done = True


class _Sweep:
    """The loop's state: what waits, what trains here, which jobs run."""

    def __init__(self, plan: SweepPlan, runner, max_jobs: int, progress: SweepProgress):
        self.plan, self.runner, self.progress = plan, runner, progress
        self.max_jobs = max(1, min(max_jobs, getattr(runner, "max_active", max_jobs)))
        self.here: list = [VectorisedGroup([progress.state(i) for i in group]) for group in plan.groups]
        self.waiting = list(plan.separate) if runner is not None else []
        if runner is None:
            self.here += [LocalRun(progress.state(i)) for i in plan.separate]
        self.jobs: list[JobRun] = []
        self.full_since: float | None = None  # the runner refused a job (the server is busy) since then

    @property
    def busy(self) -> bool:
        return bool(self.here or self.waiting or self.jobs)

    def submit_jobs(self) -> None:
        while self.waiting and len(self.jobs) < self.max_jobs:
            state = self.progress.state(self.waiting[0])
            try:
                handle = self.runner.submit(state.run.document)
            except RuntimeError:  # the server's job cap: try again on a later round
                self.full_since = self.full_since or time.monotonic()
                return
            self.full_since = None
            self.waiting.pop(0)
            self.jobs.append(JobRun(state, handle))

    def train_here(self) -> bool:
        """One epoch of the current group or local run; False when nothing trains in this thread."""
        if not self.here:
            return False
        unit = self.here[0]
        try:
            unit.advance()
        except NotBatchable:  # the fast path refused one: all of them train as separate runs
            self.here.pop(0)
            indices = [state.run.index for state in unit.states]
            if self.runner is not None:
                self.waiting = indices + self.waiting
            else:
                self.here += [LocalRun(state) for state in unit.states]
            return True
        if unit.done:
            self.here.pop(0)
        return True

    def poll_jobs(self) -> int:
        """Heartbeat and read every job; how many have ended since the last look."""
        ended = 0
        for job in list(self.jobs):
            job.poll()
            if job.done:
                self.jobs.remove(job)
                ended += 1
        return ended

    def stop(self, message: str) -> None:
        for unit in self.here + self.jobs:
            unit.stop(message)
        for index in self.waiting:
            self.progress.state(index).end("stopped", message)
        self.here, self.jobs, self.waiting = [], [], []

    def message(self) -> str:
        finished, total = self.progress.finished(), len(self.plan.runs)
        if self.full_since is not None and not self.here:
            return f"{finished} of {total} runs done; waiting for a free training slot on the server"
        return f"{finished} of {total} runs done"


def run_sweep(plan: SweepPlan, runner=None, reporter=None, max_jobs: int = MAX_JOBS,
              progress: SweepProgress | None = None) -> SweepOutcome:
    """Train every run of `plan` and return the outcome; `progress` may be given to watch it from outside."""
    progress = progress or SweepProgress(plan.runs)
    sweep = _Sweep(plan, runner, max_jobs, progress)
    total = sum(run.document.training["epochs"] for run in plan.runs)
    last_report, last_progress, last_finished = 0.0, 0.0, 0
    try:
        while sweep.busy:
            sweep.submit_jobs()
            if not sweep.train_here():
                time.sleep(POLL_SECONDS)
            sweep.poll_jobs()
            finished, now = progress.finished(), time.monotonic()
            if reporter is not None and (now - last_progress > POLL_SECONDS or finished != last_finished):
                reporter.progress(progress.epochs_done(), total, sweep.message())  # (where a cancel is seen)
                last_progress = now
                if finished != last_finished or now - last_report > REPORT_SECONDS:
                    reporter.partial(SweepOutcome(plan, progress.results(), False))
                    last_report, last_finished = now, finished
    except BaseException:
        sweep.stop(CANCELLED)
        raise
    return SweepOutcome(plan, progress.results(), True)
