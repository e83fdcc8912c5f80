"""Companion runs for the landscape's shared plane: real Trainer runs of other seeds and of other
optimizers from the same start, their cost bounded before training, cancellable, and in the
snapshot format `pca_plane` takes."""

import threading
import time

import numpy as np
import pytest
import torch

from dlbuilder import tasks
from dlbuilder.compile import compile_graph
from dlbuilder.inspection import companions
from dlbuilder.inspection.companions import (affordable_epochs, companion_documents, plan_companions,
                                             race_learning_rates, train_companions)
from dlbuilder.inspection.landscape import evaluation_probe
from dlbuilder.inspection.run_paths import document_shapes, earlier_run, parameter_shapes, run_ends, thin
from dlbuilder.inspection.training_path import pca_plane
from dlbuilder.layers import LAYERS
from dlbuilder.presets import PRESETS
from dlbuilder.training.setup import load_bundle
from dlbuilder.training.trainer import Trainer
from tests.networks import single_layer_document

EPOCHS = 8


def playground(**training):
    document = PRESETS["playground"].load()
    document.training.update(device="cpu", **training)
    return document


def job_run(document, epochs: int = EPOCHS):
    """The job's own run as the trainer makes it: (epoch, flat weights) snapshots from epoch 0."""
    trainer = Trainer(document, device="cpu")
    while trainer.epoch < epochs and trainer.step():
        pass
    return trainer.metrics.snapshots()


class Recorder:
    """A reporter that records what it is told and cancels (raises) at a chosen progress report."""

    def __init__(self, cancel_at: int | None = None):
        self.reports, self.partials, self.cancel_at = [], [], cancel_at

    def progress(self, done, total, message=""):
        self.reports.append((done, total, message))
        if self.cancel_at is not None and len(self.reports) >= self.cancel_at:
            raise tasks.Cancelled()

    def partial(self, result):
        self.partials.append(list(result))


@pytest.fixture(scope="module")
def seeds():
    document = playground()
    return document, train_companions(document, "seeds", epochs=EPOCHS, runs=2)


def test_other_seeds_start_and_end_elsewhere_on_the_same_data(seeds):
    document, paths = seeds
    assert [path.label for path in paths] == ["seed 1", "seed 2"]
    own = job_run(document)
    runs = [own] + [list(path.snapshots) for path in paths]
    for run in runs:
        assert [epoch for epoch, _ in run] == list(range(EPOCHS + 1))  # the trainer's epochs 0..8
        assert all(flat.dtype == torch.float32 and flat.dim() == 1 for _, flat in run)
    starts = [run[0][1] for run in runs]
    ends = [run[-1][1] for run in runs]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not torch.equal(starts[i], starts[j])
            assert (ends[i] - ends[j]).norm() > 0.05 * ends[i].norm()
    assert all(path.shapes == document_shapes(document) and not path.note for path in paths)


def test_optimizers_race_from_exactly_the_job_start():
    document = playground()  # SGD, lr 0.03: the job's own optimizer is "this run", left out of the race
    paths = train_companions(document, "optimizers", epochs=EPOCHS)
    assert [path.label for path in paths] == ["SGD + momentum, lr 0.03", "RMSprop, lr 0.003", "Adam, lr 0.003"]
    start = job_run(document, epochs=0)[0][1]
    for path in paths:
        assert path.snapshots[0][0] == 0 and torch.equal(path.snapshots[0][1], start)
    ends = [path.snapshots[-1][1] for path in paths]
    assert not torch.equal(ends[0], ends[1]) and not torch.equal(ends[1], ends[2])


def test_race_learning_rates_scale_from_the_document():
    assert race_learning_rates({"optimizer": "sgd", "learning_rate": 0.03}) == {
        "sgd": 0.03, "momentum": 0.03, "rmsprop": 0.003, "adam": 0.003}
    assert race_learning_rates({"optimizer": "adam", "learning_rate": 0.005}) == {
        "sgd": 0.05, "momentum": 0.05, "rmsprop": 0.005, "adam": 0.005}
    document = PRESETS["lenet"].load()  # Adam 0.005: Adam is this run, the other three race it
    labels = [label for label, _ in companion_documents(document, "optimizers")]
    assert labels == ["SGD, lr 0.05", "SGD + momentum, lr 0.05", "RMSprop, lr 0.005"]
    assert all(variant.seed == document.seed for _, variant in companion_documents(document, "optimizers"))
    with pytest.raises(ValueError, match="choose one of seeds, optimizers"):
        companion_documents(document, "learning rates")
    with pytest.raises(ValueError, match="1 to 6 other seeds"):
        companion_documents(document, "seeds", runs=40)


def test_a_plane_of_three_runs_ends_the_first_at_its_centre(seeds):
    document, paths = seeds
    own = job_run(document)
    runs = [own] + [list(path.snapshots) for path in paths]
    setup = Trainer(document, device="cpu").setup
    probe = evaluation_probe(setup)
    plane = pca_plane(runs, ["this run"] + [path.label for path in paths], probe=probe)
    assert [path.label for path in plane.paths] == ["this run", "seed 1", "seed 2"]
    assert np.allclose(plane.paths[0].coordinates[-1], 0.0, atol=1e-5)
    assert all(path.coordinates.shape == (EPOCHS + 1, 2) for path in plane.paths)
    assert all(np.isfinite(path.loss).all() for path in plane.paths)
    ends = run_ends(plane, runs, probe)
    assert ends[0].apart == 0 and ends[0].off_plane == 0
    for end, run in zip(ends, runs):
        assert end.loss == pytest.approx(float(probe(run[-1][1][None])[0]))
        assert end.travelled == pytest.approx(float((run[-1][1] - run[0][1]).double().norm()), rel=1e-6)
    for end, run in zip(ends[1:], runs[1:]):  # what the plane shows plus what it hides is the whole distance
        shown = np.linalg.norm(plane.paths[ends.index(end)].coordinates[-1])
        assert end.apart > 0 and 0 <= end.off_plane <= 1
        assert shown ** 2 + (end.off_plane * end.apart) ** 2 == pytest.approx(end.apart ** 2, rel=1e-4)


def test_the_cost_is_refused_before_training_with_what_to_shrink():
    document = PRESETS["lenet"].load()
    bundle = load_bundle(document)
    most = affordable_epochs(document, bundle, runs=3)
    assert most >= document.training["epochs"]  # the preset's 30 epochs fit in the budget
    budget = companions.BUDGET_SECONDS
    refusal = (rf"3 runs of 100000 epochs would take about \d+ s on one CPU thread, over the {budget:.0f} s "
               rf"allowed here: train at most {most} epochs each, or fewer runs")
    with pytest.raises(ValueError, match=refusal):
        plan_companions(document, "seeds", 100_000, bundle=bundle)
    plan = plan_companions(document, "seeds", most, bundle=bundle)
    assert plan.estimated_seconds <= companions.BUDGET_SECONDS and len(plan.runs) == 3
    with pytest.raises(ValueError, match="even one epoch of 3 runs is too much"):
        plan_companions(document, "seeds", 1, bundle=bundle, budget_seconds=0.01)
    with pytest.raises(ValueError, match="at least 1 epoch"):
        plan_companions(document, "seeds", 0, bundle=bundle)


def test_a_pace_far_over_the_estimate_is_refused_after_the_first_run(monkeypatch):
    """The cost model can be far off (convolutions on big images): the first run's real pace decides."""
    for name in ("UPDATE_SECONDS", "EPOCH_SECONDS", "SECONDS_PER_WORK"):
        monkeypatch.setattr(companions, name, 1e-12)  # the estimate says: free
    recorder = Recorder()
    with pytest.raises(ValueError, match=r"measured on the first run: 3 runs of 3 epochs would take about"):
        train_companions(PRESETS["lenet"].load(), "seeds", epochs=3, reporter=recorder, budget_seconds=0.01)
    assert recorder.partials == []  # refused before a second run started


def test_a_reporter_that_cancels_stops_the_runs_early_and_leaves_no_thread(monkeypatch):
    monkeypatch.setattr(companions, "REPORT_SECONDS", 0.0)  # report every update
    before = set(threading.enumerate())
    recorder = Recorder(cancel_at=30)
    with pytest.raises(tasks.Cancelled):
        train_companions(playground(), "seeds", epochs=50, runs=3, reporter=recorder)
    done, total, message = recorder.reports[-1]
    assert len(recorder.reports) == 30 and done < total / 3 and message.startswith("seed 1: epoch")
    assert recorder.partials == []  # cancelled inside the first run
    assert not set(threading.enumerate()) - before  # trained in this thread: none started, none left


def test_progress_and_partial_results_through_a_background_task():
    task = tasks.submit(lambda reporter: train_companions(playground(), "seeds", epochs=4, runs=2,
                                                         reporter=reporter), "companions")
    assert task.wait(120) and task.status == "done", task.error
    assert [path.label for path in task.result] == ["seed 1", "seed 2"]
    assert task.progress.done == task.progress.total > 0


def test_a_cancelled_background_task_ends_its_thread():
    started = threading.Event()

    def work(reporter):
        started.set()
        return train_companions(PRESETS["lenet"].load(), "seeds", epochs=30, reporter=reporter)
    task = tasks.submit(work, "cancelled companions")
    assert started.wait(60)
    task.cancel()
    assert task.wait(60) and task.status == "cancelled"
    deadline = time.monotonic() + 10  # the thread ends just after it marks the task finished
    while any(thread.name == "dlbuilder-task-cancelled companions" for thread in threading.enumerate()):
        assert time.monotonic() < deadline, "the cancelled task's thread is still running"
        time.sleep(0.01)


def test_an_earlier_run_keeps_a_bounded_labelled_path():
    document = playground(optimizer="adam", learning_rate=0.005)
    document.seed = 7
    snapshots = [(epoch, torch.full((25,), float(epoch))) for epoch in range(301)]
    run = earlier_run(2, document, snapshots)
    assert run.label == "run 2: seed 7, Adam, lr 0.005"
    assert len(run.snapshots) == 200 and run.snapshots[0][0] == 0 and run.snapshots[-1][0] == 300
    assert run.shapes == ((4, 2), (4,), (2, 4), (2,), (1, 2), (1,))
    assert [epoch for epoch, _ in thin(snapshots, 5)] == [0, 75, 150, 225, 300]
    assert thin(snapshots[:3], 5) == tuple(snapshots[:3])


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_the_architecture_key_is_the_compiled_models_parameter_shapes(layer):
    document = single_layer_document(layer)
    assert document_shapes(document) == parameter_shapes(compile_graph(document))
