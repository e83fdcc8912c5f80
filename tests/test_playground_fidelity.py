"""An imported Playground setup trains like Playground, and the live view tells the truth while training.

`PlaygroundNet` re-implements TensorFlow Playground's engine (src/nn.ts: forwardProp, backProp
accumulating per example, updateWeights with learningRate * accDer / numAccumulated and the
regularisation step after it; src/playground.ts oneStep: the training points in one fixed
order, an update after every batchSize points, no reshuffling) in NumPy float64, neuron by
neuron as written there. It starts from our initial weights and walks our training points in
our order, so any difference is a difference in the update rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from dlbuilder.figures.curves import loss_figure
from dlbuilder.playground_import import PlaygroundImportError, import_playground, seed_number
from dlbuilder.presets import PRESETS
from dlbuilder.training import device as device_module
from dlbuilder.training import setup as training_setup
from dlbuilder.training.losses import LOSSES
from dlbuilder.training.settings import LOSS_NAMES
from dlbuilder.training.trainer import Trainer

EPOCHS = 50
# float32 training against the float64 reference over 50 epochs: the worst measured over LINKS
# was 8.6e-8 (both paths), so 5e-7 is float tolerance, while a doubled step or a reshuffle is > 1e-4
TOLERANCE = 5e-7
ACTIVATIONS = {
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),  # der is 0 at z <= 0
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z)))),
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
}


class PlaygroundNet:
    """Playground's network: per-node state, per-link accumulated derivatives, dead L1 links."""

    def __init__(self, model: torch.nn.Module, activations: list[str], regularization: str, rate: float):
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        self.weights = [layer.weight.detach().double().numpy().copy() for layer in linears]  # (out, in)
        self.biases = [layer.bias.detach().double().numpy().copy() for layer in linears]
        self.activations = [ACTIVATIONS[name] for name in activations]
        self.regularization, self.rate = regularization, rate
        self.dead = [np.zeros(w.shape, dtype=bool) for w in self.weights]
        self._reset()

    def _reset(self) -> None:
        self.acc_weight = [np.zeros_like(w) for w in self.weights]
        self.acc_bias = [np.zeros_like(b) for b in self.biases]
        self.count_weight = [np.zeros(w.shape) for w in self.weights]  # link.numAccumulatedDers
        self.count_bias = [0 for _ in self.biases]  # node.numAccumulatedDers

    def forward(self, inputs: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """forwardProp: each node's totalInput and output, layer by layer."""
        outputs, totals = [inputs], []
        for weight, bias, (activation, _) in zip(self.weights, self.biases, self.activations):
            totals.append(weight @ outputs[-1] + bias)
            outputs.append(activation(totals[-1]))
        return totals, outputs

    def back_prop(self, inputs: np.ndarray, target: float) -> None:
        """backProp with Errors.SQUARE (der = output - target), accumulating into every live link."""
        totals, outputs = self.forward(inputs)
        output_der = outputs[-1] - target
        for layer in range(len(self.weights) - 1, -1, -1):
            input_der = output_der * self.activations[layer][1](totals[layer])
            self.acc_bias[layer] += input_der
            self.count_bias[layer] += 1
            live = ~self.dead[layer]
            self.acc_weight[layer] += np.where(live, np.outer(input_der, outputs[layer]), 0.0)
            self.count_weight[layer] += live
            output_der = self.weights[layer].T @ input_der  # over every outgoing link, dead ones too

    def update_weights(self, learning_rate: float) -> None:
        """updateWeights: bias and weight steps, then the regularisation step (L1 may kill a link)."""
        for layer, weight in enumerate(self.weights):
            if self.count_bias[layer]:
                self.biases[layer] -= learning_rate * self.acc_bias[layer] / self.count_bias[layer]
            old = weight.copy()
            update = ~self.dead[layer] & (self.count_weight[layer] > 0)
            stepped = old - learning_rate / np.maximum(self.count_weight[layer], 1) * self.acc_weight[layer]
            if self.regularization == "L2":
                new = stepped - learning_rate * self.rate * old
            elif self.regularization == "L1":
                new = stepped - learning_rate * self.rate * np.where(old < 0, -1.0, 1.0)
                crossed = update & (stepped * new < 0)
                new[crossed] = 0.0
                self.dead[layer] |= crossed
            else:
                new = stepped
            weight[update] = new[update]
        self._reset()

    def one_step(self, x: np.ndarray, t: np.ndarray, batch_size: int, learning_rate: float) -> None:
        """oneStep: every training point in order, an update after each batchSize of them."""
        for index, (inputs, target) in enumerate(zip(x, t)):
            self.back_prop(inputs, target)
            if (index + 1) % batch_size == 0:
                self.update_weights(learning_rate)

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """getLoss: the mean of Errors.SQUARE.error = (output - target)^2 / 2 over the points."""
        return float(np.mean([0.5 * (self.forward(inputs)[1][-1][0] - target) ** 2 for inputs, target in zip(x, t)]))


def playground_run(link: str, fast: bool, epochs: int = EPOCHS, **training):
    """Our per-epoch (train, test) losses and Playground's, from the same weights and points."""
    result = import_playground(link)
    document = result.document
    document.training.update(epochs=epochs, **training)
    trainer = Trainer(document, fast_path=fast)
    assert (trainer._fast is not None) == fast
    s = trainer.setup
    activations = [n.params.get("activation", "identity") for n in document.nodes if n.type != "input"]
    key = "l1" if s.settings["l1"] else "l2"
    regularization = {"l1": "L1", "l2": "L2"}[key] if s.settings[key] else "none"
    rate = s.settings[key] * (1 if key == "l1" else 2)  # back to Playground's rate
    reference = PlaygroundNet(s.model, activations, regularization, rate)
    key = (link, epochs)  # the same start for both paths: Playground's run is computed once
    if key not in _REFERENCE_RUNS:
        train, test = s.splits["train"], s.splits["test"]
        x, t = train.x.double().numpy(), train.t.double().numpy()[:, 0]
        test_x, test_t = test.x.double().numpy(), test.t.double().numpy()[:, 0]
        expected = []
        for _ in range(epochs):
            reference.one_step(x, t, s.settings["batch_size"], s.settings["learning_rate"])
            expected.append((reference.loss(x, t), reference.loss(test_x, test_t)))
        _REFERENCE_RUNS[key] = np.array(expected), reference
    while trainer.step():
        pass
    ours = [(record.train_loss, record.test_loss) for record in trainer.metrics.epochs()]
    return np.array(ours), *_REFERENCE_RUNS[key], result


_REFERENCE_RUNS: dict = {}


LINKS = {
    "circle, tanh 4,2 (the default link)": "dataset=circle&activation=tanh&networkShape=4,2&learningRate=0.03",
    "xor, relu 8,4, L2 0.01": "dataset=xor&activation=relu&networkShape=8,4&learningRate=0.03"
                              "&regularization=L2&regularizationRate=0.01&noise=10",
    "gauss, sigmoid 3, L1 0.001, batch 25": "dataset=gauss&activation=sigmoid&networkShape=3&learningRate=0.1"
                                            "&regularization=L1&regularizationRate=0.001&batchSize=25",
    "spiral, tanh 6,6 with x², sin x": "dataset=spiral&activation=tanh&networkShape=6,6&learningRate=0.01"
                                       "&xSquared=true&sinX=true&batchSize=5",
    "regression plane, linear output, tanh 3": "problem=regression&regDataset=reg-plane&activation=tanh"
                                               "&networkShape=3&learningRate=0.01&percTrainData=30",
}


@pytest.mark.parametrize("fast", [True, False], ids=["numpy fast path", "pytorch"])
@pytest.mark.parametrize("case", sorted(LINKS))
def test_an_import_trains_like_playground(case, fast):
    ours, expected, reference, _ = playground_run(LINKS[case], fast)
    assert len(ours) == EPOCHS
    assert not any(dead.any() for dead in reference.dead)  # else the L1 case would not compare like for like
    assert np.max(np.abs(ours[:, 1] - expected[:, 1])) < TOLERANCE, "test loss"
    assert np.max(np.abs(ours[:, 0] - expected[:, 0])) < TOLERANCE, "training loss"
    assert expected[-1, 1] < expected[0, 1]  # it learns: the comparison is not between two flat lines


def test_reshuffling_every_epoch_would_not_train_like_playground():
    ours, expected, _, _ = playground_run(LINKS["circle, tanh 4,2 (the default link)"], True, epochs=5,
                                          shuffle=True)
    assert np.max(np.abs(ours[:, 1] - expected[:, 1])) > 1e-4


def test_playgrounds_l1_freezes_weights_that_cross_zero_and_the_import_says_so():
    # A strong L1 rate: Playground zeroes and freezes weights there; dlbuilder's L1 cannot, and warns.
    link = "dataset=gauss&activation=tanh&networkShape=4&regularization=L1&regularizationRate=0.3"
    _, _, reference, result = playground_run(link, True, epochs=5)
    assert any(dead.any() for dead in reference.dead)
    assert any("L1" in warning and "crosses 0" in warning for warning in result.warnings)


# -- the loss and the import ---------------------------------------------------------------------

def test_half_mse_is_playgrounds_squared_error():
    prediction, target = torch.tensor([[0.5], [-1.0], [2.0]]), torch.tensor([[1.0], [1.0], [-1.0]])
    value = LOSSES["half_mse"].build()(prediction, target)
    assert float(value) == pytest.approx(np.mean([0.5 * 0.25, 0.5 * 4.0, 0.5 * 9.0]))
    assert "½" in LOSSES["half_mse"].title and "Playground" in LOSSES["half_mse"].title
    assert set(LOSS_NAMES) - {"auto"} == set(LOSSES)


def test_an_import_trains_with_half_mse_in_a_fixed_order_and_the_same_regularisation():
    training = import_playground("regularization=L2&regularizationRate=0.03").document.training
    assert (training["loss"], training["shuffle"], training["l2"]) == ("half_mse", False, 0.015)
    assert import_playground("regularization=L1&regularizationRate=0.03").document.training["l1"] == 0.03


def test_a_batch_size_that_does_not_divide_the_training_set_is_a_warning():
    result = import_playground("batchSize=30&percTrainData=50")  # 250 points: 8 batches and 10 left
    assert any("250" in warning and "30" in warning for warning in result.warnings)
    assert import_playground("batchSize=25&percTrainData=50").warnings == []


@pytest.mark.parametrize("query", ["networkShape=²", "networkShape=4,²", "networkShape=٣", "networkShape=4,2,⁵",
                                   "batchSize=1_0", "batchSize=٣", "learningRate=０.03", "noise=infinity"])
def test_non_ascii_digits_are_a_clean_import_error(query):
    with pytest.raises(PlaygroundImportError, match="must"):
        import_playground(query)


def test_a_seed_with_non_ascii_digits_is_not_read_as_a_number():
    assert seed_number("0.٣") != 3 and seed_number("0.5") == 5


# -- the test split while training ---------------------------------------------------------------

def test_without_validation_the_test_loss_is_recorded_and_drawn():
    document = import_playground("dataset=xor").document
    document.training["epochs"] = 3
    trainer = Trainer(document)
    while trainer.step():
        pass
    records = trainer.metrics.epochs()
    assert all(r.val_loss is None and r.test_loss is not None and r.test_metric is not None for r in records)
    assert records[-1].test_loss == pytest.approx(trainer.test_results()["test_loss"], abs=1e-6)
    names = [trace.name for trace in loss_figure(records).data]
    assert names == ["train", "test"]


def test_with_validation_the_test_split_stays_unseen():
    document = PRESETS["playground"].load()
    document.training["epochs"] = 2
    assert document.data.params.get("val_fraction", 0.2) > 0
    trainer = Trainer(document)
    while trainer.step():
        pass
    assert all(r.val_loss is not None and r.test_loss is None for r in trainer.metrics.epochs())
    assert "test" not in [trace.name for trace in loss_figure(trainer.metrics.epochs()).data]


def test_early_stopping_watches_the_training_loss_not_the_test_split():
    document = import_playground("dataset=circle").document
    document.training.update(epochs=6, early_stopping=True, patience=100)
    trainer = Trainer(document)
    while trainer.step():
        pass
    records = trainer.metrics.epochs()
    assert trainer.stopping.best_loss == min(r.train_loss for r in records)
    assert trainer.stopping.best_loss != min(r.test_loss for r in records)


def test_early_stopping_names_the_loss_it_watched():
    document = import_playground("dataset=circle").document  # no validation split
    document.training.update(epochs=50, early_stopping=True, patience=1, min_delta=10.0)
    trainer = Trainer(document)
    while trainer.step():
        pass
    assert "training loss has not improved" in trainer.stop_reason


def test_the_counters_show_the_test_loss():
    def page():
        from dlbuilder.training.job import JobSnapshot
        from dlbuilder.training.metrics import EpochRecord
        from dlbuilder.ui.live import _counters

        record = EpochRecord(epoch=3, step=75, train_loss=0.25, val_loss=None, train_metric=0.9, val_metric=None,
                             learning_rate=0.03, examples_per_second=1000.0, seconds=1.0, test_loss=0.3126)
        snapshot = JobSnapshot(status="running", message="", epoch=3, step=75, updates_per_epoch=25,
                               total_epochs=500, info={"train_examples": 250}, best_epoch=None,
                               patience_wait=None, epochs=[record])
        _counters(snapshot, {"batch_size": 10, "patience": 10})

    app = AppTest.from_function(page, default_timeout=30).run()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Test loss"] == "0.313"
    assert any("training loss 0.250" in caption.value for caption in app.caption)


# -- the model the page reads ----------------------------------------------------------------------

def _trainer_after(document, steps: int, fast: bool) -> Trainer:
    trainer = Trainer(document, fast_path=fast)
    assert (trainer._fast is not None) == fast
    for _ in range(steps):
        if not trainer.step():
            break
    return trainer


@pytest.mark.parametrize("steps", [1, 7, 33])  # mid-epoch: 25 updates per epoch
def test_flush_brings_the_fast_paths_weights_to_the_model_mid_epoch(steps):
    document = import_playground("dataset=spiral&networkShape=4,2").document
    fast, reference = _trainer_after(document, steps, True), _trainer_after(document, steps, False)
    before = {k: v.clone() for k, v in fast.setup.model.state_dict().items()}
    fast.flush()
    expected = reference.setup.model.state_dict()
    for name, tensor in fast.setup.model.state_dict().items():
        assert torch.allclose(tensor, expected[name], atol=1e-5), name
    assert any(not torch.equal(before[k], expected[k]) for k in before) == (steps % 25 != 0)
    assert fast.metrics.steps()[-1].step == steps  # the losses are published too


def test_flush_after_early_stopping_keeps_the_restored_best_weights():
    document = import_playground("dataset=circle").document
    document.training.update(early_stopping=True, patience=1, min_delta=10.0, restore_best=True)  # stops at 2
    trainer = _trainer_after(document, 10**6, True)
    assert trainer.done and trainer.stopping.best_epoch == 1 and trainer.epoch == 2
    restored = {k: v.clone() for k, v in trainer.setup.model.state_dict().items()}
    trainer.flush()
    assert all(torch.equal(v, restored[k]) for k, v in trainer.setup.model.state_dict().items())


# -- gradient norms ----------------------------------------------------------------------------------

@pytest.mark.parametrize("training", [
    dict(optimizer="momentum", l1=0.01, l2=0.05, grad_clip=0.05, learning_rate=0.05),
    dict(optimizer="sgd", l2=0.1),
    dict(optimizer="adam", l1=0.02),
], ids=["l1, l2, clipping", "l2", "l1, adam"])
def test_both_paths_report_the_same_gradient_norms(training):
    norms = {}
    for fast in (True, False):
        document = PRESETS["deep_mlp"].load()
        document.training.update(epochs=2, **training)
        trainer = _trainer_after(document, 10**6, fast)
        norms[fast] = trainer.metrics.epochs()[-1].grad_norms
    assert norms[True].keys() == norms[False].keys() and norms[True]
    for node, value in norms[False].items():
        assert norms[True][node] == pytest.approx(value, rel=1e-4, abs=1e-7), node
    if training.get("grad_clip"):  # clipping was active: the reported gradient is the clipped one
        assert np.sqrt(sum(v * v for v in norms[True].values())) == pytest.approx(training["grad_clip"], rel=1e-3)


# -- device=auto -------------------------------------------------------------------------------------

@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("DLBUILDER_CPU_MAX_WORK", raising=False)


def test_auto_picks_the_cpu_for_small_work_and_cuda_for_large(fake_cuda, monkeypatch):
    limit = device_module.CPU_MAX_WORK
    assert device_module.pick_device("auto", 340).type == "cpu"
    assert device_module.pick_device("auto", limit).type == "cpu"
    assert device_module.pick_device("auto", limit + 1).type == "cuda"
    assert device_module.pick_device("auto").type == "cuda"  # work unknown: as before
    assert device_module.pick_device("cuda", 340).type == "cuda"  # an explicit choice is kept
    monkeypatch.setenv("DLBUILDER_CPU_MAX_WORK", "0")
    assert device_module.pick_device("auto", 340).type == "cuda"
    monkeypatch.setenv("DLBUILDER_CPU_MAX_WORK", "²")  # not a number: the default
    assert device_module.pick_device("auto", 340).type == "cpu"


def test_a_playground_net_trains_on_the_cpu_with_the_fast_path_when_a_gpu_exists(fake_cuda):
    trainer = Trainer(import_playground("dataset=circle").document)
    assert trainer.setup.device.type == "cpu" and trainer._fast is not None
    assert 0 < trainer.setup.info["work_per_update"] <= device_module.CPU_MAX_WORK


def test_a_large_net_would_go_to_the_gpu(fake_cuda, monkeypatch):
    chosen = []

    def spy(choice, work=None):
        chosen.append(device_module.pick_device(choice, work).type)
        return torch.device("cpu")  # nothing is allocated on a GPU this machine does not have

    monkeypatch.setattr(training_setup, "pick_device", spy)
    document = PRESETS["deep_mlp"].load()
    for node in document.nodes:
        if node.type == "dense":
            node.params["units"] = 256
    document.training["batch_size"] = 256
    training_setup.prepare(document)
    assert chosen == ["cuda"]


def test_the_test_split_is_scored_in_full_for_playground_nets_and_bounded_otherwise(monkeypatch):
    document = import_playground("problem=regression&percTrainData=30").document  # 840 test points
    assert len(Trainer(document).setup.splits["test_eval"]) == 840
    monkeypatch.setattr(training_setup, "TEST_EVAL_WORK", 1)  # as for a net with much work per example
    assert len(Trainer(document).setup.splits["test_eval"]) == training_setup.EVAL_LIMIT
