"""The training loop: optimizers, schedules, losses, regularisation, early stopping, determinism."""

import math

import pytest
import torch

from dlbuilder.presets import PRESETS
from dlbuilder.training.init import initialise
from dlbuilder.training.losses import loss_problem, make_targets, resolve_loss
from dlbuilder.training.metrics import Series
from dlbuilder.training.optim import OPTIMIZERS, SCHEDULES
from dlbuilder.training.trainer import Diverged, Trainer
from dlbuilder.validation import validate


def playground(**training):
    document = PRESETS["playground"].load()
    document.training.update(training)
    return document


def run(trainer: Trainer) -> Trainer:
    while trainer.step():
        pass
    return trainer


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_every_optimizer_lowers_the_loss(optimizer):
    rates = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.1}
    document = PRESETS["deep_mlp"].load()
    document.data.name, document.data.params = "circle", {}
    document.training.update(optimizer=optimizer, learning_rate=rates.get(optimizer, 0.01), epochs=15,
                             batch_size=16)
    trainer = run(Trainer(document))
    epochs = trainer.metrics.epochs()
    assert len(epochs) == 15
    assert epochs[-1].train_loss < 0.25 * epochs[0].train_loss
    assert epochs[-1].train_metric > 0.95


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_schedules_change_the_learning_rate_as_documented(schedule):
    trainer = run(Trainer(playground(schedule=schedule, epochs=12, step_size=5, gamma=0.5,
                                     plateau_patience=1, learning_rate=0.1)))
    rates = [e.learning_rate for e in trainer.metrics.epochs()]
    if schedule == "constant":
        assert set(rates) == {0.1}
    elif schedule == "step":  # the LR recorded at the end of epoch e was used during epoch e
        assert rates[3] == pytest.approx(0.1) and rates[5] == pytest.approx(0.05) and rates[10] == pytest.approx(0.025)
    elif schedule == "exponential":
        assert rates[2] == pytest.approx(0.1 * 0.5 ** 2)
    elif schedule == "cosine":
        assert rates[0] == pytest.approx(0.1) and rates[6] == pytest.approx(0.1 * (1 + math.cos(math.pi * 6 / 12)) / 2)
    else:  # halve on plateau never raises the rate, and halves in steps
        assert all(b <= a for a, b in zip(rates, rates[1:]))
        assert all(math.log2(0.1 / r) == pytest.approx(round(math.log2(0.1 / r))) for r in rates)


def test_updates_per_epoch_is_ceil_n_over_batch():
    trainer = Trainer(playground(batch_size=30, epochs=2))
    n = trainer.num_train
    assert trainer.updates_per_epoch == math.ceil(n / 30)
    run(trainer)
    assert trainer.step_count == 2 * math.ceil(n / 30)
    assert [e.step for e in trainer.metrics.epochs()] == [math.ceil(n / 30), 2 * math.ceil(n / 30)]


def test_same_seed_gives_identical_histories_and_another_seed_differs():
    def history(seed):
        document = PRESETS["residual"].load()
        document.seed = seed
        document.training["epochs"] = 3
        return [r.loss for r in run(Trainer(document)).metrics.steps()]
    first, second, other = history(3), history(3), history(4)
    assert first == second
    assert first != other


def test_diverging_learning_rate_stops_with_a_hint():
    document = playground(learning_rate=10.0, loss="mse", epochs=50)
    trainer = Trainer(document)
    with pytest.raises(Diverged, match="learning rate 10 is probably too high; try 1"):
        run(trainer)
    assert trainer.done


def test_early_stopping_stops_at_patience_and_restores_the_best_epoch():
    document = PRESETS["deep_mlp"].load()
    document.data.params.update(noise=50, num_samples=120)
    document.training.update(early_stopping=True, patience=5, epochs=500, learning_rate=0.03,
                             optimizer="adam", restore_best=True)
    for node in document.nodes:
        if node.type == "dense":
            node.params["units"] = 64
    trainer = run(Trainer(document))
    stopping = trainer.stopping
    epochs = trainer.metrics.epochs()
    val = [e.val_loss for e in epochs]
    assert stopping.stopped_epoch is not None and stopping.stopped_epoch < 500
    assert stopping.best_epoch == 1 + val.index(min(val))
    assert stopping.stopped_epoch == stopping.best_epoch + 5
    assert "restored the weights of epoch" in trainer.stop_reason
    from dlbuilder.training.evaluation import evaluate
    assert evaluate(trainer.setup, trainer.setup.splits["val"]).loss == pytest.approx(min(val), rel=1e-5)


def test_overfitting_a_tiny_subset_reaches_full_training_accuracy():
    document = PRESETS["deep_mlp"].load()
    document.training.update(subset=50, epochs=150, learning_rate=0.01)
    trainer = run(Trainer(document))
    assert trainer.setup.info["train_examples"] == 50
    assert trainer.metrics.epochs()[-1].train_metric == 1.0


def test_l2_shrinks_weights():
    def final_norm(l2):
        trainer = run(Trainer(playground(l2=l2, epochs=20, learning_rate=0.1)))
        return sum(trainer.metrics.epochs()[-1].weight_norms.values())
    assert final_norm(0.05) < 0.8 * final_norm(0.0)


def test_l1_drives_weights_towards_zero():
    trainer = run(Trainer(playground(l1=0.05, epochs=30, learning_rate=0.1)))
    weights = torch.cat([p.detach().flatten() for p in trainer.setup.model.parameters() if p.dim() >= 2])
    assert (weights.abs() < 0.05).float().mean() > 0.3


def test_zero_init_keeps_hidden_units_identical():
    trainer = run(Trainer(playground(init="zeros", epochs=5, learning_rate=0.1)))
    weight = trainer.setup.model.dense1[0].weight  # (4, 2): every row stays the same
    assert torch.allclose(weight, weight[:1].expand_as(weight))


def test_initialisers_follow_their_scheme():
    model = PRESETS["lenet"].load()
    from dlbuilder.compile import compile_graph
    net = compile_graph(model)
    initialise(net, "uniform")
    linear = net.dense1[0]
    assert linear.weight.abs().max() <= 0.5 and torch.all(linear.bias == 0.1)
    initialise(net, "he_normal")
    fan_in = 64
    assert linear.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.25)


def test_gradient_clipping_limits_the_update():
    document = playground(grad_clip=0.01, learning_rate=1.0, epochs=1, loss="mse")
    trainer = Trainer(document)
    before = [p.detach().clone() for p in trainer.setup.model.parameters()]
    trainer.step()
    moved = torch.cat([(p.detach() - b).flatten() for p, b in zip(trainer.setup.model.parameters(), before)])
    assert moved.norm() <= 0.01 * 1.0 + 1e-6  # SGD: step = lr * clipped gradient


def test_metrics_are_bounded_for_long_runs():
    series = Series(capacity=100)
    for i in range(10_000):
        series.add(i)
    assert len(series.items) <= 100
    assert series.items[0] == 0 and series.items[-1] > 9_000
    gaps = {b - a for a, b in zip(series.items, series.items[1:])}
    assert len(gaps) == 1  # evenly spaced after downsampling


def test_epoch_records_carry_norms_speed_and_metrics():
    trainer = run(Trainer(playground(epochs=2)))
    record = trainer.metrics.epochs()[-1]
    assert set(record.weight_norms) == {"dense1", "dense2", "output"}
    assert all(v > 0 for v in record.grad_norms.values())
    assert record.examples_per_second > 0 and 0 <= record.val_metric <= 1
    assert len(trainer.metrics.snapshots()) == 3  # initial weights + one per epoch
    assert trainer.metrics.snapshots()[0][1].numel() == 25


def test_regression_reports_r_squared():
    document = PRESETS["deep_mlp"].load()
    document.data.name = "sine"
    document.data.params = {}
    document.nodes[-1].params.update(task="regression", units=0)
    document.training.update(epochs=40, learning_rate=0.01)
    assert validate(document).ok, validate(document).problems
    trainer = run(Trainer(document))
    assert trainer.metrics.epochs()[-1].train_metric > 0.8
    assert trainer.test_results()["metric_name"] == "r2"


def test_loss_must_fit_the_problem():
    document = PRESETS["deep_mlp"].load()
    document.data.name, document.data.params = "sine", {}
    document.nodes[-1].params.update(task="regression", units=0)
    document.training["loss"] = "cross_entropy"
    problems = validate(document).problems
    assert [(p.check, p.node) for p in problems] == [("loss", "output")]
    assert "pick mse, mae, huber" in problems[0].message


def test_loss_resolution_and_targets():
    assert resolve_loss("auto", "classification", 1) == "binary_cross_entropy"
    assert resolve_loss("auto", "classification", 3) == "cross_entropy"
    assert resolve_loss("auto", "reconstruction", 64) == "mse"
    assert "1 unit" in loss_problem("binary_cross_entropy", "classification", 3, 3)
    y = torch.tensor([0, 1, 1])
    x = torch.zeros(3, 2)
    assert make_targets("mse", "classification", 1, x, y).flatten().tolist() == [-1.0, 1.0, 1.0]
    assert make_targets("mse", "classification", 2, x, y).tolist() == [[1, 0], [0, 1], [0, 1]]
    assert make_targets("binary_cross_entropy", "classification", 1, x, y).shape == (3, 1)
    assert make_targets("mse", "reconstruction", 2, x, y) is x
