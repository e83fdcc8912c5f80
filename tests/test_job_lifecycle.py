"""A job's lifecycle: a bounded stop even mid-step, live weights taken between steps, a start that
returns at once, and worker processes that do not run the app's main script."""

import os
import runpy
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from dlbuilder.presets import PRESETS
from dlbuilder.training import process_runner
from dlbuilder.training.job import JobHandle, JobSnapshot, ThreadRunner
from dlbuilder.training.metrics import StepRecord
from dlbuilder.training.process_runner import KILL_WAIT_SECONDS, ProcessJobHandle, ProcessRunner
from dlbuilder.training.trainer import Trainer
from dlbuilder.ui import jobs, session
from tests.networks import wait_for

ROOT = Path(__file__).resolve().parents[1]
GRACE = 1.0  # a short grace period for the tests (the module's default is a few seconds)
BOUND = GRACE + 2 * KILL_WAIT_SECONDS + 30.0  # generous: a busy machine forks and reaps slowly


def endless_step_worker(conn, document_json, device):
    """The worker with training steps that never end (a stand-in for a huge network's step)."""
    def endless_step(self):
        time.sleep(3600)
        return True
    Trainer.step = endless_step  # (in the worker process only)
    process_runner.child_main(conn, document_json, device)


def stubborn_worker(conn, document_json, device):
    """An endless-step worker that ignores SIGTERM: only SIGKILL ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    endless_step_worker(conn, document_json, device)


def long_playground(epochs: int = 100_000):
    document = PRESETS["playground"].load()
    document.training["epochs"] = epochs
    return document


def assert_gone(job) -> None:
    """The worker is dead and reaped (its memory is back), and the parent keeps no weights copy."""
    assert job.process.exitcode is not None and not job.process.is_alive()
    with pytest.raises(ProcessLookupError):
        os.kill(job.process.pid, 0)
    assert job.state_dict() is None and job.bundle() is None


@pytest.fixture
def short_grace(monkeypatch):
    monkeypatch.setattr(process_runner, "STOP_GRACE_SECONDS", GRACE)


@pytest.mark.parametrize("worker, exit_signal", [(endless_step_worker, signal.SIGTERM),
                                                 (stubborn_worker, signal.SIGKILL)])
def test_stop_ends_a_job_stuck_in_one_step_within_the_bound(monkeypatch, short_grace, worker, exit_signal):
    monkeypatch.setattr(process_runner, "child_main", worker)
    runner = ProcessRunner()
    job = runner.submit(long_playground())
    assert wait_for(lambda: job.status == "running")  # the trainer exists; its first step never ends
    job.stop()
    assert job.stopping
    assert job.wait(BOUND), "the stopped job was still running"
    assert job.status == "stopped" and "stopped by the user" in job.message
    assert "ended forcibly" in job.message and "smaller" in job.message
    assert job.process.exitcode == -exit_signal
    assert_gone(job)
    assert not job.stopping and runner.active_jobs() == []


def test_no_heartbeat_ends_a_job_stuck_in_one_step(monkeypatch, short_grace):
    monkeypatch.setattr(process_runner, "child_main", endless_step_worker)
    job = ProcessRunner(heartbeat_timeout=1.0).submit(long_playground())
    # beat until the trainer runs (a slow start on a busy machine must not stop it before its endless
    # step: it would stop cleanly between steps instead), then go silent like a closed tab
    assert wait_for(lambda: job.heartbeat() or job.status == "running"), "the job did not start"
    assert job.wait(120 + BOUND), "the job without heartbeats was still running"
    assert job.status == "stopped" and "no heartbeat" in job.message and "ended forcibly" in job.message
    assert_gone(job)


# -- live weights: the ones being trained, taken between two steps ---------------------------------

def reference_weights(document, steps: int) -> dict:
    trainer = Trainer(document, fast_path=True)
    assert trainer._fast is not None, "the playground preset should take the NumPy fast path"
    for _ in range(steps):
        trainer.step()
    trainer.flush()
    return trainer.setup.model.state_dict()


def same_weights(state, expected) -> bool:
    return state is not None and all(torch.allclose(state[k], v, atol=1e-6) for k, v in expected.items())


def pause_mid_epoch(job) -> int:
    """Pause, then step once until the job sits mid-epoch; the number of updates made."""
    job.pause()
    assert wait_for(lambda: job.status == "paused")
    step = job.snapshot().step
    for _ in range(3):
        job.step_once()
        step += 1
        assert wait_for(lambda: job.snapshot().step == step)
    if step % job.snapshot().updates_per_epoch == 0:
        job.step_once()
        step += 1
        assert wait_for(lambda: job.snapshot().step == step)
    assert job.status == "paused"
    return step


@pytest.mark.parametrize("runner_type", [ThreadRunner, ProcessRunner])
def test_paused_weights_include_every_update(monkeypatch, runner_type):
    monkeypatch.setenv("DLBUILDER_FAST_PATH", "1")
    document = long_playground()
    runner = runner_type()
    job = runner.submit(document)
    try:
        assert wait_for(lambda: job.snapshot().step > 30)
        step = pause_mid_epoch(job)
        expected = reference_weights(document, step)
        if runner_type is ThreadRunner:
            assert same_weights(job.state_dict(timeout=30), expected)
        else:  # the worker answers a request with the next refresh
            assert wait_for(lambda: same_weights(job.state_dict(timeout=30), expected), 60)
        job.step_once()
        assert wait_for(lambda: job.snapshot().step == step + 1)
        job.stop()
        assert job.wait(60) and job.status == "stopped"
        assert same_weights(job.state_dict(), reference_weights(document, step + 1))
    finally:
        runner.shutdown()


def test_thread_job_state_dict_is_a_copy_taken_between_steps():
    runner = ThreadRunner()
    job = runner.submit(long_playground())
    try:
        assert wait_for(lambda: job.snapshot().step > 5)
        first = job.state_dict(timeout=30)
        assert first is not None
        assert wait_for(lambda: not same_weights(job.state_dict(timeout=30), first))  # training goes on
        assert all(t.device.type == "cpu" for t in first.values())
        first_copy = {k: v.clone() for k, v in first.items()}
        time.sleep(0.2)
        assert same_weights(first, first_copy)  # a copy: training does not change it under the reader
    finally:
        runner.shutdown()


# -- start: returns at once, commands given meanwhile arrive ---------------------------------------

@pytest.fixture
def held_launch(monkeypatch):
    """Worker launches wait until the test releases them (like a forkserver still importing)."""
    release = threading.Event()
    original = ProcessJobHandle._launch

    def held(self):
        release.wait(120)
        return original(self)
    monkeypatch.setattr(ProcessJobHandle, "_launch", held)
    yield release
    release.set()


def test_submit_returns_before_the_worker_is_launched(held_launch):
    runner = ProcessRunner()
    try:
        job = runner.submit(long_playground())
        assert job.status == "pending" and "starting a worker" in job.message and job.process is None
        job.pause()  # given before the worker exists: delivered once it does
        held_launch.set()
        assert wait_for(lambda: job.status == "paused")
        assert job.snapshot().step == 0
    finally:
        runner.shutdown()


def test_a_job_stopped_before_its_worker_started_never_starts_one(held_launch):
    job = ProcessRunner().submit(long_playground())
    job.stop()
    held_launch.set()
    assert job.wait(30) and job.status == "stopped" and job.process is None


# -- worker processes must not run the app's main script --------------------------------------------

def test_the_app_script_does_nothing_when_a_worker_imports_it(monkeypatch):
    """Streamlit makes app.py the `__main__` module; multiprocessing re-runs it as `__mp_main__` in
    every worker, where each Streamlit call logged "missing ScriptRunContext" (19 per start)."""
    import streamlit as st

    def forbidden(*args, **kwargs):
        raise AssertionError("a worker process ran the app")
    for name in ("set_page_config", "navigation", "sidebar"):
        monkeypatch.setattr(st, name, forbidden)
    runpy.run_path(str(ROOT / "app.py"), run_name="__mp_main__")


# -- the page: one status everywhere, a chart from the first mini-batch -----------------------------

class CountingHandle(JobHandle):
    """A job that never trains but moves on by one epoch each time anyone looks (a busy, fast job)."""

    def __init__(self, document):
        super().__init__(document)
        self.looks = 0
        self.status = "running"

    def snapshot(self) -> JobSnapshot:
        self.looks += 1
        return replace(super().snapshot(), epoch=self.looks, step=20 * self.looks, updates_per_epoch=20,
                       steps=[StepRecord(s, 0, 1.0 / s, 0.03) for s in range(1, 11)])


def test_the_sidebar_status_agrees_with_the_counters():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.switch_page("pages/train.py")
    app.session_state[session.DOCUMENT] = long_playground()
    app.session_state[jobs.JOB] = CountingHandle(long_playground())
    app.run()
    assert not app.exception
    shown = next(m.value for m in app.metric if m.label == "Epoch")
    sidebar = [c.value for c in app.sidebar.caption if c.value.startswith("Training:")]
    assert sidebar == [f"Training: **running** · epoch {shown}/100000"]


def test_the_loss_chart_appears_with_the_first_mini_batch_losses():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    app.switch_page("pages/train.py")
    app.session_state[session.DOCUMENT] = long_playground()
    handle = CountingHandle(long_playground())
    app.session_state[jobs.JOB] = handle
    app.run()
    assert not app.exception
    assert not handle.metrics.epochs()  # no epoch has ended yet
    charts = [c for c in app.get("plotly_chart") if "dlb_loss" in str(c.proto.id)]
    assert charts, "no loss chart before the first epoch ended"
