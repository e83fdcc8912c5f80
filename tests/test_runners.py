"""One suite for every runner (thread, process, Ray): the same job, controls and faults, the same answers.

The Ray cases share one local Ray instance (2 CPUs) started once for this module; they are skipped,
with the reason shown, where ray is not installed. The node-lost case builds a small Ray cluster of
its own (a head and one worker node) in a subprocess, so it cannot clash with that instance.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dlbuilder.compile import compile_graph
from dlbuilder.datasets import store_upload
from dlbuilder.editing import network_for_dataset, set_data_params, set_dataset
from dlbuilder.presets import PRESETS
from dlbuilder.training import process_runner, ray_connect, ray_runner
from dlbuilder.training.job import ThreadRunner
from dlbuilder.training.process_runner import ProcessRunner
from dlbuilder.training.ray_runner import LOST, RayJobHandle, RayRunner
from dlbuilder.training.ray_worker import place_upload
from dlbuilder.training.setup import load_bundle
from dlbuilder.training.trainer import Trainer
from tests.networks import long_playground, pause_and_step_once, wait_for

try:
    import ray
except ImportError:
    ray = None

ROOT = Path(__file__).resolve().parents[1]
NO_RAY = "ray is not installed: pip install ray==2.60.0"
needs_ray = pytest.mark.skipif(ray is None, reason=NO_RAY)
RUNNERS = {"thread": ThreadRunner, "process": ProcessRunner, "ray": RayRunner}
# What a job's message says when its worker died under it
LOST_WORKER = {"process": "ended unexpectedly", "ray": LOST}


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs) for every Ray case of this module, shut down at its end."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DLBUILDER_RAY_CPUS", "2")
        patch.delenv("RAY_ADDRESS", raising=False)
        module = ray_runner.ensure_ray()
    yield module
    module.shutdown()


@pytest.fixture(params=["thread", "process", pytest.param("ray", marks=needs_ray)])
def kind(request):
    if request.param == "ray":
        request.getfixturevalue("ray_instance")
    return request.param


def short_playground(epochs: int = 3):
    document = PRESETS["playground"].load()
    document.training["epochs"] = epochs
    return document


def reference_run(document) -> dict:
    """The final weights of `document` trained here to the end (same seed: every runner must agree)."""
    trainer = Trainer(document)
    while trainer.step():
        pass
    trainer.flush()
    return trainer.setup.model.state_dict()


def assert_weights_of(job, document) -> dict:
    """The job's weights exist, fit the network's own keys and shapes, and are finite."""
    state = job.state_dict()
    assert state is not None
    expected = compile_graph(document).state_dict()
    assert list(state) == list(expected)
    assert all(state[k].shape == v.shape and torch.isfinite(state[k]).all() for k, v in expected.items())
    return state


def worker_pid(kind: str, job) -> int:
    if kind == "process":
        return job.process.pid
    assert wait_for(lambda: job.actor is not None, 60)
    return ray.get(job.actor.pid.remote(), timeout=60)


def test_a_short_job_finishes_with_its_records_data_and_weights(kind):
    document = short_playground()
    runner = RUNNERS[kind]()
    try:
        job = runner.submit(document)
        assert job.wait(60), f"the {kind} job did not end"
        snapshot = job.snapshot()
        assert (job.status, snapshot.message, snapshot.epoch) == ("finished", "finished 3 epochs", 3)
        assert [r.epoch for r in snapshot.epochs] == [1, 2, 3] and snapshot.updates_per_epoch == 20
        assert snapshot.steps[-1].step == snapshot.step == 60 and snapshot.info["parameters"] == 25
        final = assert_weights_of(job, document)
        expected = reference_run(document)
        assert all(torch.allclose(final[k], v, atol=1e-6) for k, v in expected.items())
        epoch, flat = job.metrics.snapshots()[-1]  # the last weight snapshot is the final weights, flat
        assert epoch == 3 and torch.allclose(flat, torch.cat([v.flatten() for v in final.values()]), atol=1e-6)
        bundle = job.bundle()
        assert bundle is not None and bundle.x_train.shape[1] == 2
        assert torch.equal(torch.as_tensor(bundle.x_train), torch.as_tensor(load_bundle(document).x_train))
    finally:
        runner.shutdown()


def test_pause_step_once_resume_and_stop(kind):
    document = long_playground()
    runner = RUNNERS[kind]()
    try:
        job = runner.submit(document)
        assert wait_for(lambda: job.snapshot().step > 5 or not job.active)
        held = pause_and_step_once(job)
        time.sleep(0.3)
        assert job.snapshot().step == held + 1 and job.status == "paused"
        job.resume()
        assert wait_for(lambda: job.snapshot().step > held + 20)
        job.stop()
        assert job.wait(60)
        assert job.status == "stopped" and "stopped by the user" in job.message
        assert_weights_of(job, document)
        assert job.bundle() is not None
    finally:
        runner.shutdown()


def test_a_job_without_heartbeats_stops_itself(kind):
    document = long_playground()
    runner = RUNNERS[kind](heartbeat_timeout=1.5)
    try:
        job = runner.submit(document)
        # a live page beats while the job starts (however slow), then it "closes"
        assert wait_for(lambda: job.heartbeat() or job.snapshot().step > 0 or not job.active)
        assert job.wait(60), "the job without heartbeats was still running"
        assert job.status == "stopped" and "no heartbeat" in job.message
        assert_weights_of(job, document)
    finally:
        runner.shutdown()


def test_a_killed_worker_ends_only_its_own_job(kind):
    if kind == "thread":
        pytest.skip("a thread job has no worker of its own to kill: it lives in the server's process")
    runner = RUNNERS[kind]()
    try:
        victim, bystander = runner.submit(long_playground()), runner.submit(long_playground())
        assert wait_for(lambda: victim.snapshot().step > 0 and bystander.snapshot().step > 0)
        os.kill(worker_pid(kind, victim), signal.SIGKILL)
        assert victim.wait(60), "the job whose worker was killed did not end"
        assert victim.status == "error" and LOST_WORKER[kind] in victim.message
        step = bystander.snapshot().step
        assert wait_for(lambda: bystander.snapshot().step > step + 20) and bystander.status == "running"
        bystander.stop()
        assert bystander.wait(60) and bystander.status == "stopped"
        after = runner.submit(short_playground(2))
        assert after.wait(60) and after.status == "finished" and after.snapshot().epoch == 2
    finally:
        runner.shutdown()


# -- Ray only ---------------------------------------------------------------------------------------

@needs_ray
def test_an_uploaded_csv_reaches_a_worker_that_cannot_see_the_servers_cache(ray_instance, tmp_path, monkeypatch):
    server, node = tmp_path / "server", tmp_path / "node"
    monkeypatch.setenv("DLBUILDER_CACHE", str(server))
    rows = ["a,b,label"] + [f"{i % 7 / 7:.3f},{i % 5 / 5:.3f},{'yes' if i % 7 > 3 else 'no'}" for i in range(120)]
    data = "\n".join(rows).encode()
    document = set_data_params(set_dataset(network_for_dataset("circle"), "csv"), {"file": store_upload(data)})
    document.training["epochs"] = 2

    class ElsewhereHandle(RayJobHandle):  # its worker's cache folder is not the server's (another machine)
        actor_options = {"runtime_env": {"env_vars": {"DLBUILDER_CACHE": str(node)}}}

    job = ElsewhereHandle(document)
    job.start()
    assert job.wait(60) and job.status == "finished", job.message
    key = document.data.params["file"]
    assert [p.name for p in node.glob(f"uploads/*/{key}.csv")] == [f"{key}.csv"]  # the worker stored its copy
    assert job.bundle() is not None and job.bundle().x_train.shape[1] == 2
    assert_weights_of(job, document)


def test_uploaded_bytes_are_checked_against_their_key(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBUILDER_CACHE", str(tmp_path / "server"))
    data = b"a,b,label\n" + b"".join(f"{i},{i % 3},{i % 2}\n".encode() for i in range(40))
    document = set_data_params(set_dataset(network_for_dataset("circle"), "csv"), {"file": store_upload(data)})
    monkeypatch.setenv("DLBUILDER_CACHE", str(tmp_path / "node"))
    with pytest.raises(ValueError, match="changed on its way"):
        place_upload(document, data + b"1,1,1\n")
    assert not (tmp_path / "node").exists()
    place_upload(document, data)
    key = document.data.params["file"]
    stored = list((tmp_path / "node" / "uploads").glob(f"*/{key}.csv"))
    assert len(stored) == 1 and stored[0].read_bytes() == data
    assert load_bundle(document).x_train.shape[1] == 2  # read from the node's own cache
    place_upload(document, data)  # a second job on the same node keeps the one copy
    assert list((tmp_path / "node" / "uploads").glob(f"*/{key}.csv")) == stored


@needs_ray
def test_a_job_that_never_gets_a_worker_stops_within_the_grace(ray_instance, monkeypatch):
    monkeypatch.setattr(process_runner, "STOP_GRACE_SECONDS", 1.0)

    class GreedyHandle(RayJobHandle):  # more CPUs than the instance has: Ray keeps it waiting, as a busy cluster
        actor_options = {"num_cpus": 3}

    job = GreedyHandle(long_playground())
    job.start()
    assert wait_for(lambda: job.actor is not None, 60)
    time.sleep(0.5)
    assert job.status == "pending" and "starting a worker" in job.message
    job.stop()
    assert job.wait(60)
    assert (job.status, job.message) == ("stopped", "stopped before its worker started")
    assert job.state_dict() is None and job.bundle() is None


@needs_ray
def test_a_resource_no_machine_has_is_refused_at_once(ray_instance):
    class TpuHandle(RayJobHandle):
        actor_options = {"resources": {"tpu_pod": 1}}

    job = TpuHandle(short_playground())
    job.start()
    assert job.wait(60) and job.status == "error"
    assert "no machine of the Ray cluster has the resource 'tpu_pod'" in job.message and job.actor is None


def test_without_ray_a_job_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as where it is not installed
    job = RayJobHandle(short_playground())
    job.start()
    assert job.wait(30) and job.status == "error" and "pip install ray==2.60.0" in job.message


def test_an_address_where_nothing_listens_is_refused_at_once():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # (bound, not listening: connections are refused)
        with pytest.raises(OSError):
            ray_connect._probe(f"127.0.0.1:{port}")
    ray_connect._probe("auto")  # (addresses that are not host:port are left to Ray)


def test_a_cuda_job_asks_for_its_share_of_a_gpu():
    document = short_playground()
    assert RayJobHandle(document, device="cuda", gpu_share=0.25)._actor_options()["num_gpus"] == 0.25
    assert RayJobHandle(document, device="cuda")._actor_options()["num_gpus"] == 1.0
    assert "num_gpus" not in RayJobHandle(document, device="cpu", gpu_share=0.25)._actor_options()
    with pytest.raises(ValueError, match="between 0 and 1"):
        RayJobHandle(document, gpu_share=1.5)


# -- Ray: a machine of the cluster is lost ------------------------------------------------------------

def node_lost_scenario() -> None:
    """(Run in a subprocess.) A job on a worker node that goes away; then a job on the head. Prints JSON."""
    from ray.cluster_utils import Cluster

    torch.set_num_threads(1)
    fast_failure_detection = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                              "health_check_failure_threshold": 4}
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "_system_config": fast_failure_detection})
    node = cluster.add_node(num_cpus=1, resources={"doomed": 1})
    os.environ["RAY_ADDRESS"] = cluster.address

    class PinnedHandle(RayJobHandle):
        actor_options = {"resources": {"doomed": 1}}

    job = PinnedHandle(long_playground())
    job.start()
    result = {"started": wait_for(lambda: job.snapshot().step > 0 or not job.active, 60)}
    cluster.remove_node(node, allow_graceful=False)
    result.update(ended=job.wait(60), status=job.status, message=job.message)
    after = RayJobHandle(short_playground(2))
    after.start()
    result.update(after_ended=after.wait(60), after_status=after.status, after_epoch=after.snapshot().epoch)
    ray.shutdown()
    cluster.shutdown()
    print("RESULT " + json.dumps(result), flush=True)


@needs_ray
def test_a_lost_node_ends_its_job_with_an_error_and_the_next_job_works():
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    run = subprocess.run([sys.executable, "-c", "from tests.test_runners import node_lost_scenario as s; s()"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the scenario failed (exit {run.returncode}): {run.stderr[-2000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["started"] and result["ended"]
    assert (result["status"], result["message"]) == ("error", LOST)
    assert result["after_ended"] and result["after_status"] == "finished" and result["after_epoch"] == 2
