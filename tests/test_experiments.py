"""Sweeps: expansion into runs, validation and budget messages, vectorised training equal to separate runs,
the job pool, cancelling, and the lectures' sweeps."""

import copy
import math
import time

import numpy as np
import pytest

from dlbuilder.document import load_document
from dlbuilder.experiments import (
    LECTURE_SWEEPS,
    BudgetError,
    SweepAxis,
    SweepError,
    SweepSpec,
    expand,
    plan_sweep,
    results_table,
    run_sweep,
)
from dlbuilder.experiments.chain import parse_chain
from dlbuilder.experiments.compare import settings_differences
from dlbuilder.experiments.group import VectorisedGroup
from dlbuilder.experiments.lectures import chain_parameters, mlp_document, widths_for_budget
from dlbuilder.experiments.results import MEASURES, SweepProgress, grid_of
from dlbuilder.presets import PRESETS
from dlbuilder.tasks import Cancelled
from dlbuilder.training.job import ThreadRunner
from dlbuilder.training.trainer import Trainer
from dlbuilder.validation import validate
from tests.test_figures import assert_valid_as_built


def playground(epochs: int = 3):
    document = PRESETS["playground"].load()
    document.training["epochs"] = epochs
    return document


def hidden(document) -> list[tuple[str, dict]]:
    """(type, params) of every layer between the Input and the Output, in order."""
    chain = parse_chain(document)
    layers = []
    for block in chain.blocks:
        layers.append(("dense", block.dense["units"], block.dense["activation"]))
        if block.batchnorm is not None:
            layers.append(("batchnorm",))
        if block.activation:
            layers.append((block.activation[0],))
        if block.dropout:
            layers.append(("dropout", block.dropout))
    return layers


# -- a sweep's rows ------------------------------------------------------------------------------------------


def test_a_sweep_of_four_runs_gives_four_rows_with_their_settings():
    spec = SweepSpec(playground(), (SweepAxis("learning_rate", ("0.01", "0.3")), SweepAxis("width", (2, 6))))
    outcome = run_sweep(plan_sweep(spec))
    assert outcome.complete and len(outcome.results) == 4
    rows = results_table(outcome.results)
    assert [(row["learning rate"], row["units per hidden layer (width)"]) for row in rows] == [
        (0.01, 2), (0.01, 6), (0.3, 2), (0.3, 6)]
    for row, result in zip(rows, outcome.results):
        assert row["status"] == "finished" and row["epochs"] == 3
        for name in ("train loss", "validation loss", "best validation loss", "validation accuracy (%)"):
            assert math.isfinite(row[name]), (name, row)
        # the run's document really has these settings
        assert result.document.training["learning_rate"] == row["learning rate"]
        assert [layer[1] for layer in hidden(result.document)] == [row["units per hidden layer (width)"]] * 2
        assert "vectorised with 1 other" == result.how
    # different settings, different results
    assert len({row["validation loss"] for row in rows}) == 4


def test_heat_map_grid_puts_each_run_in_its_cell():
    spec = SweepSpec(playground(2), (SweepAxis("learning_rate", (0.01, 0.1, 0.3)), SweepAxis("seed", (1, 2))))
    outcome = run_sweep(plan_sweep(spec))
    x, y, z = grid_of(outcome.results, "learning_rate", "seed", MEASURES["held_out_loss"])
    assert x == ["0.01", "0.1", "0.3"] and y == ["1", "2"]
    lr_03_seed_2 = next(r for r in outcome.results if r.values == {"learning_rate": 0.3, "seed": 2})
    assert z[1][2] == pytest.approx(lr_03_seed_2.epochs[-1].val_loss)
    assert all(value is not None and math.isfinite(value) for row in z for value in row)


# -- vectorised == separate ------------------------------------------------------------------------------


def _train_alone(document, fast_path=True):
    trainer = Trainer(document, fast_path=fast_path)
    while trainer.step():
        pass
    return trainer


def _assert_same_run(alone, state, rtol):
    epochs_alone, epochs_together = alone.metrics.epochs(), state.metrics.epochs()
    assert len(epochs_alone) == len(epochs_together) > 0
    for a, b in zip(epochs_alone, epochs_together):
        for name in ("train_loss", "val_loss", "test_loss", "train_metric", "val_metric", "learning_rate"):
            first, second = getattr(a, name), getattr(b, name)
            assert (first is None) == (second is None), name
            if first is not None:
                assert second == pytest.approx(first, rel=rtol, abs=1e-7), (name, a.epoch)
    steps_alone = np.array([s.loss for s in alone.metrics.steps()])
    steps_together = np.array([s.loss for s in state.metrics.steps()])
    np.testing.assert_allclose(steps_together, steps_alone, rtol=rtol, atol=1e-7)


CASES = {
    # Playground's import: half squared error on ±1 targets, tanh output, no reshuffling, test curve
    "playground sgd": (lambda: _playground_import(), (SweepAxis("learning_rate", (0.01, 0.03, 0.3)),
                                                      SweepAxis("seed", (3, 4)))),
    "adam, l2 and clipping, 3 classes": (lambda: mlp_document(
        "blobs", "blobs", {}, (16, 8), "relu", {"task": "classification"}, optimizer="adam",
        learning_rate=0.01, grad_clip=0.5, epochs=4), (SweepAxis("l2", (0.0, 0.01)), SweepAxis("seed", (1, 2)))),
    "momentum, schedule, early stopping, init": (lambda: mlp_document(
        "spiral", "spiral", {"noise": 20}, (8, 8), "sigmoid", {"task": "classification", "units": 1},
        optimizer="nesterov", learning_rate=0.3, schedule="step", step_size=2, gamma=0.5, early_stopping=True,
        patience=2, epochs=12), (SweepAxis("init", ("glorot_uniform", "he_normal")), SweepAxis("seed", (5, 6)))),
    "regression, adamw": (lambda: mlp_document(
        "sine", "sine", {}, (12,), "tanh", {"task": "regression"}, optimizer="adamw", l2=0.01,
        learning_rate=0.02, epochs=4), (SweepAxis("learning_rate", (0.01, 0.05)),)),
}


def _playground_import():
    from dlbuilder.playground_import import document_from_playground

    document = document_from_playground("activation=tanh&batchSize=10&dataset=spiral&learningRate=0.03"
                                        "&networkShape=8,8,8&percTrainData=50&noise=0&x=true&y=true&xSquared=true")
    document.training["epochs"] = 4
    return document


@pytest.mark.parametrize("case", CASES)
def test_vectorised_runs_equal_separate_runs_from_the_same_seeds(case):
    build, axes = CASES[case]
    plan = plan_sweep(SweepSpec(build(), axes))
    assert len(plan.groups) == 1 and not plan.separate, plan.describe()
    progress = SweepProgress(plan.runs)
    group = VectorisedGroup([progress.state(i) for i in plan.groups[0]])
    while not group.done:
        group.advance()
    for state in progress.states:
        alone = _train_alone(state.run.document)
        assert state.status == ("early_stopped" if alone.stopping and alone.stopping.stopped_epoch else "finished")
        _assert_same_run(alone, state, rtol=2e-5)


def test_vectorised_runs_follow_plain_pytorch_too():
    """Against the trainer's PyTorch path (no NumPy at all): same losses to float32 accuracy."""
    plan = plan_sweep(SweepSpec(playground(3), (SweepAxis("learning_rate", (0.03, 0.1)),
                                                SweepAxis("seed", (1, 2)))))
    progress = SweepProgress(plan.runs)
    group = VectorisedGroup([progress.state(i) for i in plan.groups[0]])
    while not group.done:
        group.advance()
    for state in progress.states:
        _assert_same_run(_train_alone(state.run.document, fast_path=False), state, rtol=1e-4)


def test_a_diverging_run_leaves_the_group_and_the_others_go_on():
    base = mlp_document("sine", "sine", {}, (32, 32), "relu", {"task": "regression"}, optimizer="sgd", epochs=4)
    spec = SweepSpec(base, (SweepAxis("learning_rate", (0.03, 10.0)),))
    outcome = run_sweep(plan_sweep(spec))
    good, bad = outcome.results
    assert good.status == "finished" and len(good.epochs) == 4
    assert bad.status == "diverged" and "learning rate 10 is probably too high" in bad.message


# -- expansion: depth, width, hidden layers, dropout, batch norm ------------------------------------------------


def _values(name, *values, base=None):
    spec = SweepSpec(base or playground(), (SweepAxis(name, values),))
    return [run.document for run in expand(spec)]


def test_depth_keeps_or_repeats_the_hidden_layers():
    # the Playground default: dense1 4 tanh, dense2 2 tanh
    documents = _values("depth", 1, 2, 4)
    assert [hidden(d) for d in documents] == [
        [("dense", 4, "tanh")], [("dense", 4, "tanh"), ("dense", 2, "tanh")],
        [("dense", 4, "tanh"), ("dense", 2, "tanh"), ("dense", 2, "tanh"), ("dense", 2, "tanh")]]
    for document in documents:
        assert validate(document).ok
        assert document.data.name == "circle" and document.training["learning_rate"] == 0.03


def test_depth_and_width_together_and_hidden_layer_widths():
    spec = SweepSpec(playground(), (SweepAxis("depth", (3,)), SweepAxis("width", (16,))))
    (run,) = expand(spec)
    assert [layer[1] for layer in hidden(run.document)] == [16, 16, 16]
    assert run.parameters == chain_parameters(2, (16, 16, 16), 1)
    documents = _values("hidden_layers", "48", "12-12", (8, 8, 8))
    assert [tuple(layer[1] for layer in hidden(d)) for d in documents] == [(48,), (12, 12), (8, 8, 8)]


def test_dropout_and_batch_norm_insert_and_remove_layers():
    with_dropout, without = _values("dropout", 0.5, 0.0)
    assert hidden(with_dropout) == [("dense", 4, "tanh"), ("dropout", 0.5), ("dense", 2, "tanh"), ("dropout", 0.5)]
    assert hidden(without) == [("dense", 4, "tanh"), ("dense", 2, "tanh")]
    (normed,) = _values("batchnorm", "on")
    assert hidden(normed) == [("dense", 4, "identity"), ("batchnorm",), ("tanh",),
                              ("dense", 2, "identity"), ("batchnorm",), ("tanh",)]
    (back,) = _values("batchnorm", "off", base=normed)
    assert hidden(back) == [("dense", 4, "tanh"), ("dense", 2, "tanh")]
    assert validate(normed).ok and validate(with_dropout).ok


def test_random_search_draws_within_the_given_span():
    spec = SweepSpec(playground(), (SweepAxis("learning_rate", (0.001, 0.1)), SweepAxis("optimizer", ("sgd", "adam"))),
                     search="random", count=12, random_seed=3)
    runs = expand(spec)
    rates = [run.values["learning_rate"] for run in runs]
    assert len(runs) == 12 and all(0.001 <= r <= 0.1 for r in rates) and len(set(rates)) > 8
    assert {run.values["optimizer"] for run in runs} == {"sgd", "adam"}
    assert [run.values for run in expand(spec)] == [run.values for run in runs]  # the same draws again


# -- validation and budget messages -----------------------------------------------------------------------


@pytest.mark.parametrize("axes, search, count, message", [
    ((SweepAxis("momentum_of_doom", (1,)),), "grid", 0, "unknown sweep setting 'momentum_of_doom'"),
    ((SweepAxis("learning_rate", ("20",)),), "grid", 0, "learning rate: '20' must be a number from 1e-06 to 10"),
    ((SweepAxis("width", ("2.5",)),), "grid", 0, "must be a whole number from 1 to 1024"),
    ((SweepAxis("optimizer", ("adamm",)),), "grid", 0, "'adamm' is not one of sgd, momentum"),
    ((SweepAxis("batchnorm", ("maybe",)),), "grid", 0, "'maybe' is not on or off"),
    ((SweepAxis("hidden_layers", ("16-0",)),), "grid", 0, "must list 1 to 8 widths of 1 to 1024"),
    ((SweepAxis("seed", (1,)), SweepAxis("seed", (2,))), "grid", 0, "chosen twice"),
    ((SweepAxis("hidden_layers", ("8",)), SweepAxis("depth", (2,))), "grid", 0, "already set the depth"),
    ((SweepAxis("seed", ()),), "grid", 0, "give 1 to 16 values, not 0"),
    ((SweepAxis("seed", tuple(range(9))), SweepAxis("learning_rate", tuple(0.01 * k for k in range(1, 9)))),
     "grid", 0, "a grid of 9 x 8 = 72 runs is more than the 64 allowed"),
    ((SweepAxis("seed", (1, 2)),), "random", 0, "a random search draws 1 to 64 runs, not 0"),
    ((), "grid", 0, "varies 1 or 2 settings, not 0"),
])
def test_bad_sweeps_say_what_to_change(axes, search, count, message):
    with pytest.raises(SweepError, match=None) as error:
        plan_sweep(SweepSpec(playground(), axes, search=search, count=count))
    assert message in str(error.value)


def test_structural_axes_need_a_plain_dense_chain():
    with pytest.raises(SweepError) as error:
        plan_sweep(SweepSpec(PRESETS["lenet"].load(), (SweepAxis("width", (8, 16)),)))
    text = str(error.value)
    assert "units per hidden layer (width) changes the hidden Dense layers of a plain chain" in text
    assert "conv1 (conv2d) does not fit" in text and "sweep a training setting" in text
    # a training setting sweeps any network
    assert len(plan_sweep(SweepSpec(PRESETS["lenet"].load(), (SweepAxis("learning_rate", (0.001, 0.01)),)),
                          budget_seconds=1e6).runs) == 2


def test_a_sweep_over_the_budget_is_refused_with_what_to_shrink():
    spec = SweepSpec(playground(200), (SweepAxis("width", (4, 8, 16, 32)), SweepAxis("depth", (1, 2, 3, 4))))
    with pytest.raises(BudgetError) as error:
        plan_sweep(spec, budget_seconds=5)
    text = str(error.value)
    assert text.startswith("16 runs of 200 epochs would take about") and "over the 5 s a sweep may take here" in text
    fit = int(text.split("use at most ")[1].split(" ")[0])
    assert 1 <= fit < 200
    assert plan_sweep(SweepSpec(playground(200), spec.axes, epochs=fit), budget_seconds=5).estimated_seconds <= 5


# -- separate runs as jobs, and cancelling -----------------------------------------------------------------


class CountingRunner(ThreadRunner):
    """A ThreadRunner that remembers the most jobs it ever had training at once."""

    most = 0

    def submit(self, document, device=None):
        job = super().submit(document, device)
        self.most = max(self.most, len(self.active_jobs()))
        return job


def test_separate_runs_train_as_jobs_never_more_than_the_cap():
    runner = CountingRunner(max_active=8)
    spec = SweepSpec(playground(2), (SweepAxis("dropout", (0.0, 0.1, 0.3, 0.5)),))
    plan = plan_sweep(spec)
    assert not plan.groups and len(plan.separate) == 4  # dropout: not the NumPy fast path
    outcome = run_sweep(plan, runner=runner, max_jobs=2)
    assert [r.status for r in outcome.results] == ["finished"] * 4
    assert all(r.how == "separate job" and len(r.epochs) == 2 and r.metric_name == "accuracy" for r in outcome.results)
    assert runner.most <= 2


class CancelAfter:
    """A reporter that cancels (as a page that went away would) after `calls` progress reports."""

    def __init__(self, calls):
        self.calls, self.partials = calls, []

    def progress(self, done, total, message=""):
        self.calls -= 1
        if self.calls < 0:
            raise Cancelled()

    def partial(self, outcome):
        self.partials.append(outcome)


def test_a_cancelled_sweep_stops_its_jobs():
    runner = ThreadRunner(max_active=8)
    spec = SweepSpec(playground(5000), (SweepAxis("dropout", (0.1, 0.2, 0.3)),))
    progress = SweepProgress(plan_sweep(spec, budget_seconds=1e6).runs)
    with pytest.raises(Cancelled):
        run_sweep(plan_sweep(spec, budget_seconds=1e6), runner=runner, reporter=CancelAfter(5), progress=progress)
    deadline = time.monotonic() + 10
    while runner.active_jobs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not runner.active_jobs()
    assert {state.status for state in progress.states} == {"stopped"}


def test_partial_results_fill_in_as_runs_finish():
    reporter = CancelAfter(10_000)
    spec = SweepSpec(playground(2), (SweepAxis("dropout", (0.0, 0.5)), SweepAxis("seed", (1, 2))))
    run_sweep(plan_sweep(spec), reporter=reporter)
    finished = [sum(r.finished for r in outcome.results) for outcome in reporter.partials]
    assert finished == sorted(finished) and finished[0] < 4 and finished[-1] == 4


# -- lectures and comparisons --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LECTURE_SWEEPS)
def test_every_lecture_sweep_plans_within_the_budget(name):
    plan = plan_sweep(LECTURE_SWEEPS[name].build())
    assert 2 <= len(plan.runs) <= 16


def test_fat_and_thin_networks_share_a_parameter_budget():
    plan = plan_sweep(LECTURE_SWEEPS["fat_vs_thin"].build())
    counts = {run.values["hidden_layers"]: run.parameters for run in plan.runs}
    budget = chain_parameters(2, (48,), 1)
    assert len(counts) == 4 and all(abs(count - budget) <= 0.1 * budget for count in counts.values()), counts
    assert widths_for_budget(2, 1, 3, chain_parameters(2, (48,), 1)) == (8, 8, 8)


def test_lecture_table_of_hidden_layers_trains_a_few_epochs():
    spec = LECTURE_SWEEPS["hidden_layers"].build()
    outcome = run_sweep(plan_sweep(SweepSpec(spec.base, spec.axes, epochs=2)))
    rows = results_table(outcome.results)
    assert [row["hidden layers (depth)"] for row in rows] == [1, 2, 3, 4]
    assert all(math.isfinite(row["train loss"]) and math.isfinite(row["test loss"]) for row in rows)


def test_settings_differences_list_only_what_differs():
    first = playground()
    second = copy.deepcopy(first)
    second.training["learning_rate"] = 0.1
    second.seed = 7
    rows = settings_differences(first, second)
    assert rows == [{"setting": "seed", "first run": "0", "second run": "7"},
                    {"setting": "training: learning_rate", "first run": "0.03", "second run": "0.1"}]
    (deeper,) = _values("depth", 3)
    names = [row["setting"] for row in settings_differences(first, deeper)]
    assert "hidden layer widths" in names and "layer dense3" in names
    assert load_document(first.to_dict()) == first


def test_sweep_figures_are_valid_plotly_and_show_each_run():
    from dlbuilder.figures.experiments import (
        comparison_figure,
        overlay_figure,
        sweep_map_figure,
        sweep_scatter_figure,
    )

    spec = SweepSpec(playground(2), (SweepAxis("learning_rate", (0.01, 0.1)), SweepAxis("seed", (1, 2))))
    results = run_sweep(plan_sweep(spec)).results
    measure = MEASURES["held_out_loss"]
    x, y, z = grid_of(results, "learning_rate", "seed", measure)
    heat = sweep_map_figure(x, y, z, measure, "learning rate", "seed", held_out="validation")
    scatter = sweep_scatter_figure([r.values["learning_rate"] for r in results], [r.values["seed"] for r in results],
                                   [r.epochs[-1].val_loss for r in results], [r.label for r in results], measure,
                                   "learning rate", "seed", log_x=True)
    overlay = overlay_figure(results, selected=3)
    compare = comparison_figure(results[0], results[1], log_scale=True)
    for figure in (heat, scatter, overlay, compare):
        assert_valid_as_built(figure)
    assert heat.layout.title.text == "final validation loss"
    highlighted = [trace.name for trace in overlay.data if trace.name != "other runs"]
    assert highlighted == ["lr 0.1, seed 1: validation loss", "lr 0.1, seed 1: training loss"]
    assert sum(trace.name == "other runs" for trace in overlay.data) == 3
    assert len(compare.data) == 4 and compare.layout.yaxis.type == "log"
