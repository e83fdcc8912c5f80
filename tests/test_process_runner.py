"""Jobs in worker processes: same controls and statuses as threads, plus surviving a dead worker."""

import os
import signal

import pytest
import torch

from dlbuilder.compile import compile_graph
from dlbuilder.presets import PRESETS
from dlbuilder.training.process_runner import ProcessRunner
from tests.networks import long_playground, pause_and_step_once, wait_for


@pytest.fixture(scope="module")
def runner():
    runner = ProcessRunner(max_active=3)
    yield runner
    runner.shutdown()


def test_controls_metrics_weights_and_data_cross_the_process_boundary(runner):
    job = runner.submit(long_playground())
    assert wait_for(lambda: job.snapshot().epoch >= 2)
    assert job.process.pid != os.getpid()
    snapshot = job.snapshot()
    assert snapshot.info["parameters"] == 25 and snapshot.updates_per_epoch == 20
    assert 1 <= snapshot.epochs[-1].epoch <= snapshot.epoch and snapshot.steps
    model = compile_graph(job.document)
    model.load_state_dict(job.state_dict())  # the worker's live weights fit the network
    assert job.bundle().x_train.shape[1] == 2
    held = pause_and_step_once(job)
    job.resume()
    assert wait_for(lambda: job.snapshot().step > held + 20)
    job.stop()
    assert job.wait(10) and job.status == "stopped" and "stopped by the user" in job.message
    assert not job.process.is_alive()
    final = job.state_dict()
    assert torch.isfinite(torch.cat([t.flatten() for t in final.values()])).all()


def test_a_quick_diverging_job_reports_its_end(runner):
    document = PRESETS["playground"].load()
    document.training.update(learning_rate=10.0, loss="mse")
    job = runner.submit(document)
    assert job.wait(60)
    assert job.status == "diverged" and "learning rate" in job.message


def test_a_killed_worker_becomes_an_error_and_the_next_job_works(runner):
    job = runner.submit(long_playground())
    assert wait_for(lambda: job.snapshot().step > 0)
    os.kill(job.process.pid, signal.SIGKILL)
    assert job.wait(10)
    assert job.status == "error" and "ended unexpectedly" in job.message
    document = PRESETS["playground"].load()
    document.training["epochs"] = 2
    second = runner.submit(document)
    assert second.wait(60) and second.status == "finished" and second.snapshot().epoch == 2


def test_no_heartbeat_stops_the_worker():
    runner = ProcessRunner(heartbeat_timeout=1.0)
    job = runner.submit(long_playground())
    # beats until the worker has started (slow on a busy machine), then the page "closes"
    assert wait_for(lambda: job.heartbeat() or job.snapshot().step > 0)
    assert job.wait(60)
    assert job.status == "stopped" and "no heartbeat" in job.message
    assert not job.process.is_alive()
