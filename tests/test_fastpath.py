"""The NumPy fast path gives the same training as PyTorch, step for step, where it applies."""

import numpy as np
import pytest

from dlbuilder.playground_import import document_from_playground
from dlbuilder.presets import PRESETS
from dlbuilder.training.trainer import Trainer


def deep_mlp(**training):
    document = PRESETS["deep_mlp"].load()
    document.training.update(training)
    return document


def activations(document, *names):
    for node, name in zip([n for n in document.nodes if n.type == "dense"], names):
        node.params["activation"] = name
    return document


def sine_regression():
    document = PRESETS["playground"].load()
    document.data.name, document.data.params = "sine", {}
    document.nodes[-1].params.update(task="regression", units=0)
    return document


CASES = {
    "playground (sgd, bce, tanh)": lambda: PRESETS["playground"].load(),
    "imported playground (mse, tanh output, l2)": lambda: document_from_playground(
        "activation=tanh&batchSize=10&dataset=spiral&learningRate=0.03&networkShape=4,2&percTrainData=50"
        "&x=true&y=true&regularization=L2&regularizationRate=0.01"),
    "adam, cross-entropy, relu": lambda: deep_mlp(),
    "momentum, l1, l2, clipping": lambda: deep_mlp(optimizer="momentum", l1=0.001, l2=0.01, grad_clip=0.5,
                                                   learning_rate=0.05),
    "nesterov, step schedule": lambda: deep_mlp(optimizer="nesterov", schedule="step", step_size=2),
    "adamw, leaky relu, sigmoid": lambda: activations(deep_mlp(optimizer="adamw", l2=0.05), "leaky_relu",
                                                      "sigmoid"),
    "regression (sine)": sine_regression,
}


def losses(document, fast: bool) -> tuple[list[float], Trainer]:
    document.training["epochs"] = 4
    trainer = Trainer(document, fast_path=fast)
    assert (trainer._fast is not None) == fast
    while trainer.step():
        pass
    return [record.loss for record in trainer.metrics.steps()], trainer


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_losses_and_weights_as_pytorch(case):
    reference, torch_trainer = losses(CASES[case](), fast=False)
    fast, fast_trainer = losses(CASES[case](), fast=True)
    assert len(fast) == len(reference)
    assert np.max(np.abs(np.array(fast) - np.array(reference))) < 1e-5
    torch_weights = torch_trainer.setup.model.state_dict()
    for name, tensor in fast_trainer.setup.model.state_dict().items():
        assert np.allclose(tensor.numpy(), torch_weights[name].numpy(), atol=1e-5), name


@pytest.mark.parametrize("document", [
    PRESETS["lenet"].load(),  # convolutions
    PRESETS["residual"].load(),  # a branch and Add
    deep_mlp(optimizer="rmsprop"),
    activations(deep_mlp(), "gelu"),
], ids=["conv", "residual", "rmsprop", "gelu"])
def test_anything_else_trains_with_pytorch(document):
    trainer = Trainer(document)
    assert trainer._fast is None


def test_divergence_is_still_caught():
    document = PRESETS["playground"].load()
    document.training.update(learning_rate=10.0, loss="mse", epochs=50)
    trainer = Trainer(document)
    assert trainer._fast is not None
    with pytest.raises(Exception, match="learning rate 10 is probably too high"):
        while trainer.step():
            pass


def test_gradient_norms_are_reported_like_pytorch():
    _, torch_trainer = losses(PRESETS["playground"].load(), fast=False)
    _, fast_trainer = losses(PRESETS["playground"].load(), fast=True)
    reference = torch_trainer.metrics.epochs()[-1].grad_norms
    for node, norm in fast_trainer.metrics.epochs()[-1].grad_norms.items():
        assert norm == pytest.approx(reference[node], rel=1e-3, abs=1e-6)
