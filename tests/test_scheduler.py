"""The class scheduler: fair turns, per-session caps, queue places, admission, placement, heartbeats.

A controllable fake backend makes the order of starts exact; the last tests run real jobs.
"""

from __future__ import annotations

import threading
import time

import pytest

from dlbuilder.presets import PRESETS
from dlbuilder.training.cost import estimate, train_examples
from dlbuilder.training.job import HandleBase, JobHandle, JobSnapshot
from dlbuilder.training.metrics import MetricsStream
from dlbuilder.training.scheduler import Refused, Scheduler, default_max_running
from tests.conftest import requires_cuda
from tests.networks import wait_for


class FakeHandle(HandleBase):
    """A backend job that runs until the test finishes it."""

    started: list[FakeHandle] = []

    def __init__(self, document, device=None, heartbeat_timeout=None):
        self.document, self.device = document, device
        self.status, self.message = "pending", ""
        self.metrics = MetricsStream()
        self.commands: list[str] = []
        self._last_beat = time.monotonic()
        self._done = threading.Event()

    def start(self):
        self.status = "running"
        FakeHandle.started.append(self)

    def finish(self):
        self.status = "finished"
        self._done.set()

    def stop(self):
        self._note_stop()
        self.finish()
        self.status = "stopped"

    def pause(self):
        self.commands.append("pause")

    def resume(self):
        self.commands.append("resume")

    def step_once(self):
        self.commands.append("step_once")

    def snapshot(self):
        return JobSnapshot(status=self.status, message="", epoch=0, step=0, updates_per_epoch=1,
                           total_epochs=self.document.training["epochs"], info={}, best_epoch=None,
                           patience_wait=None)


@pytest.fixture
def fake():
    FakeHandle.started = []
    made = []

    def make(**options):
        scheduler = Scheduler(FakeHandle, **{"gpu_budget": 0, "max_seconds": 3600.0, **options})
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.shutdown(1.0)


def tiny(label: str = "run"):
    document = PRESETS["playground"].load()
    document.training["epochs"] = 5
    document.name = label
    return document


def finish_first_running():
    running = [h for h in FakeHandle.started if h.status == "running"]
    running[0].finish()


def settle(scheduler):
    with scheduler._lock:
        scheduler._dispatch()


def test_sessions_take_turns_not_first_come(fake):
    scheduler = fake(max_running=1)
    for index in range(4):
        scheduler.submit(tiny(f"a{index}"), session="a")
    for index in range(2):
        scheduler.submit(tiny(f"b{index}"), session="b")
    for _ in range(5):
        finish_first_running()
        settle(scheduler)
    assert [h.document.name for h in FakeHandle.started] == ["a0", "b0", "a1", "b1", "a2", "a3"]


def test_a_session_runs_one_job_at_a_time_by_default(fake):
    scheduler = fake(max_running=4)
    first, second = scheduler.submit(tiny(), session="a"), scheduler.submit(tiny(), session="a")
    other = scheduler.submit(tiny(), session="b")
    assert first.status == "running" and other.status == "running"
    assert second.status == "queued" and second.queue().ahead == 0
    first.inner.finish()
    settle(scheduler)
    assert second.status == "running"
    assert scheduler.counts() == {"running": 2, "queued": 0}


def test_a_session_cannot_fill_the_queue(fake):
    scheduler = fake(max_running=1, queued_per_session=2)
    scheduler.submit(tiny(), session="a")  # runs
    scheduler.submit(tiny(), session="a")
    scheduler.submit(tiny(), session="a")
    with pytest.raises(Refused, match="already have 2 runs waiting"):
        scheduler.submit(tiny(), session="a")
    assert scheduler.submit(tiny(), session="b").status == "queued"  # others still get in


def test_queue_place_counts_the_runs_ahead_and_estimates_the_wait(fake):
    scheduler = fake(max_running=1)
    running = scheduler.submit(tiny(), session="a")
    waiting = [scheduler.submit(tiny(), session=name) for name in "bcd"]
    places = [job.queue() for job in waiting]
    assert [place.ahead for place in places] == [0, 1, 2]
    assert 0 < places[0].seconds < places[1].seconds < places[2].seconds
    assert running.queue() is None
    waiting[0].stop()  # leaving the queue moves everyone behind up
    assert waiting[0].status == "stopped" and waiting[0].wait(0)
    assert [job.queue().ahead for job in waiting[1:]] == [0, 1]
    assert all(h is running.inner for h in FakeHandle.started)  # the stopped one never started


def test_commands_given_while_queued_apply_when_it_starts(fake):
    scheduler = fake(max_running=1)
    scheduler.submit(tiny(), session="a")
    waiting = scheduler.submit(tiny(), session="b")
    waiting.pause()
    waiting.step_once()
    assert waiting.status == "queued" and waiting.snapshot().status == "queued"
    finish_first_running()
    settle(scheduler)
    assert waiting.inner.commands == ["pause", "step_once"]


def test_a_waiting_job_whose_page_closed_leaves_the_queue(fake):
    scheduler = fake(max_running=1, heartbeat_timeout=0.3)
    scheduler.submit(tiny(), session="a")
    abandoned = scheduler.submit(tiny(), session="b")
    kept = scheduler.submit(tiny(), session="c")
    deadline = time.monotonic() + 30
    while abandoned.status == "queued" and time.monotonic() < deadline:
        kept.heartbeat()
        time.sleep(0.05)
    assert abandoned.status == "stopped" and "closed" in abandoned.message
    assert kept.status == "queued" and kept.queue().ahead == 0
    assert scheduler.counts()["queued"] == 1


def test_runs_that_would_take_hours_are_refused_with_what_to_shrink(fake):
    scheduler = fake(max_running=1, max_seconds=600.0)
    document = PRESETS["lenet"].load()
    document.training["epochs"] = 100_000
    with pytest.raises(Refused) as refused:
        scheduler.submit(document, session="a")
    message = str(refused.value)
    assert message.startswith("This run would take about") and "fewer epochs (at most" in message
    allowed = int(message.split("fewer epochs (at most ")[1].split(")")[0].replace(",", ""))
    document.training["epochs"] = allowed
    assert scheduler.submit(document, session="a").status == "running"  # the advice is enough


def test_an_invalid_network_is_refused_with_the_problem(fake):
    document = tiny()
    document.edges.clear()
    with pytest.raises(Refused, match="Build page"):
        fake().submit(document, session="a")


def test_cuda_on_a_server_without_a_gpu_is_refused(fake):
    document = tiny()
    document.training["device"] = "cuda"
    with pytest.raises(Refused, match="no CUDA GPU"):
        fake().submit(document, session="a")


def big_mlp():
    document = tiny("big")
    for node in document.nodes:
        if node.type == "dense":
            node.params["units"] = 512
    document.training["batch_size"] = 256
    return document


def test_auto_places_small_networks_on_the_cpu_and_large_ones_on_the_gpu():
    assert estimate(tiny(), gpu=True).device == "cpu"
    assert estimate(big_mlp(), gpu=True).device == "cuda"
    assert estimate(big_mlp(), gpu=False).device == "cpu"


def test_gpu_jobs_share_the_device_within_its_memory_budget(fake):
    need = estimate(big_mlp(), gpu=True).memory_bytes
    scheduler = fake(max_running=4, gpu_budget=int(need * 1.5))
    first = scheduler.submit(big_mlp(), session="a")
    second = scheduler.submit(big_mlp(), session="b")
    small = scheduler.submit(tiny(), session="c")
    assert first.device == "cuda" and first.inner.device == "cuda" and first.status == "running"
    assert second.status == "queued"  # two do not fit
    assert small.status == "running" and small.inner.device == "cpu"  # a CPU job behind it goes first
    first.inner.finish()
    settle(scheduler)
    assert second.status == "running"


def test_a_network_too_big_for_the_gpu_budget_trains_on_the_cpu(fake):
    scheduler = fake(max_running=2, gpu_budget=1024)
    assert scheduler.submit(big_mlp(), session="a").inner.device == "cpu"


def test_training_examples_follow_the_dataset_and_subset():
    document = tiny()
    assert train_examples(document) == 200  # 500 points, half for training, 20% of that for validation
    document.training["subset"] = 50
    assert train_examples(document) == 50


def test_defaults_scale_with_the_cores():
    assert default_max_running(2) == 4 and default_max_running(1) == 2


def test_real_jobs_run_through_the_scheduler_in_turns():
    scheduler = Scheduler(JobHandle, max_running=1, gpu_budget=0, max_seconds=3600.0)
    try:
        first, second = scheduler.submit(tiny(), session="a"), scheduler.submit(tiny(), session="b")
        assert second.status == "queued"
        assert first.wait(120) and first.status == "finished"
        assert second.wait(120) and second.status == "finished"
        assert second.snapshot().epoch == 5 and second.state_dict() is not None
        assert second.started >= first.started
    finally:
        scheduler.shutdown()


@requires_cuda
def test_a_large_network_trains_on_the_gpu_a_small_one_on_the_cpu():
    scheduler = Scheduler(JobHandle, max_running=2, max_seconds=3600.0)
    try:
        big, small = scheduler.submit(big_mlp(), session="a"), scheduler.submit(tiny(), session="b")
        assert wait_for(lambda: big.snapshot().info and small.snapshot().info)
        assert big.snapshot().info["device"] == "cuda" and small.snapshot().info["device"] == "cpu"
    finally:
        scheduler.shutdown()


class ClusterHandle(FakeHandle):
    """A backend that knows its capacity (as a Ray cluster knows its CPUs)."""

    cpus: int | None = 3
    capacity = staticmethod(lambda: ClusterHandle.cpus)


def test_a_cluster_backend_runs_as_many_jobs_as_it_has_cpus():
    scheduler = Scheduler(ClusterHandle, max_running=1, gpu_budget=0, max_seconds=3600.0, follow_capacity=True)
    try:
        jobs = [scheduler.submit(tiny(), session=name) for name in "abcde"]
        assert [job.status for job in jobs] == ["running"] * 3 + ["queued"] * 2
        ClusterHandle.cpus = 5  # a node joined
        settle(scheduler)
        assert all(job.status == "running" for job in jobs)
    finally:
        ClusterHandle.cpus = 3
        scheduler.shutdown(1.0)


def test_a_set_job_cap_overrides_the_cluster_size(fake):
    scheduler = fake(max_running=1)  # follow_capacity False: DLBUILDER_MAX_JOBS was set
    scheduler.handle_type = ClusterHandle
    jobs = [scheduler.submit(tiny(), session=name) for name in "ab"]
    assert [job.status for job in jobs] == ["running", "queued"]
