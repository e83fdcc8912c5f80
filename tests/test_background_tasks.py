"""Background tasks (`dlbuilder.tasks`): progress, partial results, cancel, errors, the server-wide cap,
the page-gone timeout; and the landscape's progress reports and reuse of a known coarse grid."""

import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from dlbuilder.inspection.grid import progressive_surface
from dlbuilder.inspection.landscape import LossProbe, flat_weights, random_directions, random_plane_surfaces
from dlbuilder.inspection.distributions import fixed_batch, replay_histograms
from dlbuilder.presets import PRESETS
from dlbuilder.tasks import BackgroundTask, Cancelled, submit
from dlbuilder.training.setup import prepare

WAIT = 30.0  # generous: CI machines are busy


def test_a_task_reports_progress_and_partial_results_then_its_result():
    gate = threading.Event()

    def work(reporter):
        reporter.progress(1, 4, "first")
        reporter.partial("coarse")
        gate.wait(WAIT)
        reporter.progress(4, 4, "last")
        return "fine"

    task = submit(work, "demo")
    deadline = time.monotonic() + WAIT
    while task.partial is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert task.active and task.status == "running"
    assert task.partial == "coarse" and task.progress.fraction == 0.25 and task.progress.message == "first"
    gate.set()
    assert task.wait(WAIT)
    assert task.status == "done" and task.result == "fine" and task.partial == "fine" and not task.active


def test_cancel_takes_effect_at_the_next_progress_report():
    steps = []

    def work(reporter):
        for step in range(10_000):
            steps.append(step)
            reporter.progress(step, 10_000)
            time.sleep(0.001)
        return "never"

    task = submit(work, "long")
    while not steps:
        time.sleep(0.01)
    task.cancel()
    assert task.wait(WAIT)
    assert task.status == "cancelled" and task.result is None and len(steps) < 10_000


def test_a_value_error_is_the_students_message_anything_else_a_plain_one(caplog):
    def refuse(reporter):
        raise ValueError("use fewer epochs")

    def crash(reporter):
        raise RuntimeError("internal detail /srv/secret.py")

    refused, crashed = submit(refuse, "refused"), submit(crash, "Crashing probe")
    assert refused.wait(WAIT) and crashed.wait(WAIT)
    assert refused.status == "error" and refused.error == "use fewer epochs"
    assert crashed.status == "error" and "secret" not in crashed.error and "Crashing probe" in crashed.error
    assert "internal detail" in caplog.text  # the traceback goes to the server log


def test_tasks_beyond_the_cap_wait_queued_and_start_when_a_slot_frees():
    slots = threading.BoundedSemaphore(1)
    gate = threading.Event()
    first = BackgroundTask(lambda reporter: gate.wait(WAIT), "first", slots=slots)
    second = BackgroundTask(lambda reporter: "second done", "second", slots=slots)
    deadline = time.monotonic() + WAIT
    while first.status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    assert second.status == "queued" and second.active
    gate.set()
    assert second.wait(WAIT) and second.result == "second done"


def test_a_task_nobody_follows_cancels_itself():
    def work(reporter):
        while True:
            reporter.progress(0, 1)
            time.sleep(0.01)

    task = BackgroundTask(work, "orphan", heartbeat_timeout=0.2)
    assert task.wait(WAIT)
    assert task.status == "cancelled"


def test_a_queued_task_can_be_cancelled_before_it_starts():
    slots = threading.BoundedSemaphore(1)
    gate = threading.Event()
    first = BackgroundTask(lambda reporter: gate.wait(WAIT), "first", slots=slots)
    second = BackgroundTask(lambda reporter: "ran", "second", slots=slots)
    second.cancel()
    assert second.wait(WAIT) and second.status == "cancelled"
    gate.set()
    assert first.wait(WAIT) and first.status == "done"


# -- the landscape as background work --------------------------------------------------------------------


def probe():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    return LossProbe(model, torch.randn(64, 3), torch.randint(0, 2, (64,)), nn.CrossEntropyLoss(), "cross_entropy",
                     batched=False)


def test_progress_counts_every_point_and_a_raising_report_stops_the_grid():
    reports = []
    levels = list(random_plane_surfaces(probe(), resolutions=(5, 9), report=lambda done, total: reports.append(
        (done, total))))
    assert len(levels) == 2 and levels[-1].final
    assert reports[0] == (0, 81) and all(total == 81 for _, total in reports)
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)

    def cancel_after_first(done, total):
        if done:
            raise Cancelled()
    tested = probe()
    before = flat_weights(tested.model).clone()
    with pytest.raises(Cancelled):
        list(random_plane_surfaces(tested, resolutions=(11, 21, 41), report=cancel_after_first))
    assert torch.equal(flat_weights(tested.model), before)  # the model's own weights are back in place


def test_a_known_coarse_grid_is_reused_and_the_result_is_the_same():
    tested = probe()
    center, directions = flat_weights(tested.model), random_directions(tested.model)
    *_, fine = progressive_surface(tested, center, directions, resolutions=(5, 9))
    *_, coarse = progressive_surface(tested, center, directions, resolutions=(5,))
    reports = []
    *_, reused = progressive_surface(tested, center, directions, resolutions=(9,), known=coarse,
                                     report=lambda done, total: reports.append(total))
    assert reports[0] == 81 - 25  # the 25 known points are not scored again
    np.testing.assert_allclose(reused.loss, fine.loss, rtol=1e-6)
    with pytest.raises(ValueError, match="other ranges"):
        next(progressive_surface(tested, center, directions, (-2.0, 2.0), resolutions=(9,), known=coarse))


def test_a_copied_probe_scores_the_same_without_sharing_the_model():
    tested = probe()
    twin = tested.copy()
    assert twin.model is not tested.model and twin.method == tested.method
    weights = flat_weights(tested.model)[None].repeat(3, 1) + torch.randn(3, len(flat_weights(tested.model))) * 0.1
    np.testing.assert_allclose(twin(weights), tested(weights), rtol=1e-6)


def test_histograms_replayed_over_snapshots_put_the_weights_back_and_can_be_cancelled():
    setup = prepare(PRESETS["playground"].load(), device="cpu")
    model, batch = setup.model, fixed_batch(setup, size=32)
    now = flat_weights(model).clone()
    snapshots = [(epoch, now + 0.1 * epoch) for epoch in range(40)]
    reports = []
    recorder = replay_histograms(model, batch, snapshots, current_epoch=40, max_epochs=8,
                                 progress=lambda done, total: reports.append((done, total)))
    assert recorder.epochs[0] == 0 and recorder.epochs[-2] == 39 and recorder.epochs[-1] == 40
    assert len(recorder.epochs) == 9 and reports == [(done, 9) for done in range(8)]
    assert torch.equal(flat_weights(model), now)

    def cancel(done, total):
        if done == 3:
            raise Cancelled()
    with pytest.raises(Cancelled):
        replay_histograms(model, batch, snapshots, current_epoch=40, progress=cancel)
    assert torch.equal(flat_weights(model), now)
