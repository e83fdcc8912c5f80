"""Probes against references: a trained Playground net, hand-set linear models, known series."""

import numpy as np
import pytest
import torch
from conftest import requires_cuda
from torch import nn

from dlbuilder import probes
from dlbuilder.datasets import DATASETS, playground_features
from dlbuilder.presets import PRESETS
from dlbuilder.training.losses import predicted_classes
from dlbuilder.training.setup import load_bundle
from dlbuilder.training.trainer import Trainer


@pytest.fixture(scope="module")
def trained_circle():
    """The Playground preset (2-4-2-1 tanh) trained for 40 epochs on the circle: (model, bundle)."""
    document = PRESETS["playground"].load()
    document.training["epochs"] = 40
    document.training["device"] = "cpu"
    trainer = Trainer(document)
    while trainer.step():
        pass
    return trainer.setup.model, load_bundle(document)


def linear(weight, bias) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float32))
        layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


class LastColumn(nn.Module):
    """Predicts tomorrow as today: the last value of each window, (B, window) -> (B, 1)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x[:, -1:] + self.unused


class BatchRecorder(nn.Module):
    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner, self.batches = inner, []

    def forward(self, x):
        self.batches.append(len(x))
        return self.inner(x)


def nearest_cell(axis: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.abs(values[:, None] - axis[None, :]).argmin(axis=1)


# -- decision boundary ---------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [17, 100])
def test_boundary_shape_and_range(trained_circle, resolution):
    model, bundle = trained_circle
    boundary = probes.decision_boundary(model, bundle, resolution=resolution)
    assert boundary.values.shape == boundary.classes.shape == (resolution, resolution)
    assert boundary.xs[0] == -6 and boundary.xs[-1] == 6 and len(boundary.ys) == resolution
    assert -1 <= boundary.values.min() and boundary.values.max() <= 1
    assert set(np.unique(boundary.classes)) <= {0, 1}
    assert 0.5 <= boundary.confidence.min() and boundary.confidence.max() <= 1
    np.testing.assert_array_equal(boundary.classes, (boundary.values > 0).astype(int))


def test_boundary_agrees_with_predictions_on_training_points(trained_circle):
    model, bundle = trained_circle
    boundary = probes.decision_boundary(model, bundle, resolution=100)
    model.eval()
    with torch.no_grad():
        predicted = predicted_classes("binary_cross_entropy", model(bundle.x_train)).numpy()
    assert (predicted == bundle.y_train.numpy()).mean() > 0.85  # it learned a real boundary
    points = bundle.extras["points_train"].numpy()
    column, row = nearest_cell(boundary.xs, points[:, 0]), nearest_cell(boundary.ys, points[:, 1])
    agreement = (boundary.classes[row, column] == predicted).mean()
    assert agreement >= 0.95
    assert 0.1 < boundary.classes.mean() < 0.9  # both classes appear


def test_boundary_value_is_tanh_of_the_output_at_each_cell(trained_circle):
    model, bundle = trained_circle
    boundary = probes.decision_boundary(model, bundle, resolution=30)
    cells = [(0, 0), (3, 17), (29, 5), (15, 15)]
    points = torch.tensor([[boundary.xs[j], boundary.ys[i]] for i, j in cells])
    with torch.no_grad():
        expected = torch.tanh(model(playground_features(points, {}))[:, 0]).numpy()
    np.testing.assert_allclose([boundary.values[i, j] for i, j in cells], expected, atol=1e-6)


def test_boundary_uses_the_bundles_features():
    bundle = DATASETS["circle"].load({"x": False, "y": False, "x_squared": True, "y_squared": True}, 0)
    model = linear([[-1.0, -1.0]], [9.0])  # inside the circle of radius 3: positive
    boundary = probes.decision_boundary(model, bundle, resolution=41)
    radius = np.hypot(boundary.xs[None, :], boundary.ys[:, None])
    np.testing.assert_allclose(boundary.values, np.tanh(9 - radius ** 2), atol=1e-5)


def test_boundary_for_three_classes_is_the_argmax():
    bundle = DATASETS["blobs"].load({"num_classes": 3}, 0)
    model = linear([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], [0.0, 0.0, 0.0])  # scores (x, y, 0)
    boundary = probes.decision_boundary(model, bundle, resolution=25)
    grid_x, grid_y = np.meshgrid(boundary.xs, boundary.ys)
    scores = np.stack([grid_x, grid_y, np.zeros_like(grid_x)], axis=-1)
    np.testing.assert_array_equal(boundary.classes, scores.argmax(axis=-1))
    softmax = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(boundary.confidence, softmax.max(axis=-1), rtol=1e-5)
    assert boundary.values is None and boundary.num_classes == 3


def test_forward_passes_are_chunked():
    bundle = DATASETS["circle"].load({}, 0)
    model = BatchRecorder(linear([[1.0, 1.0]], [0.0]))
    probes.decision_boundary(model, bundle, resolution=100)
    assert sum(model.batches) == 100 * 100 and max(model.batches) <= probes.CHUNK


# -- regression ----------------------------------------------------------------------------------


def test_regression_surface_of_a_known_plane():
    bundle = DATASETS["plane"].load({}, 0)
    model = linear([[0.1, 0.2]], [0.5])
    surface = probes.regression_surface(model, bundle, resolution=21)
    assert surface.values.shape == (21, 21) and model.training
    expected = 0.1 * surface.xs[None, :] + 0.2 * surface.ys[:, None] + 0.5
    np.testing.assert_allclose(surface.values, expected, atol=1e-5)


def test_fitted_curve_spans_the_data_range():
    bundle = DATASETS["sine"].load({}, 0)
    curve = probes.fitted_curve(linear([[2.0]], [1.0]), bundle, points=50)
    assert curve.x.shape == curve.predicted.shape == (50,)
    assert curve.x[0] == -6 and curve.x[-1] == 6
    np.testing.assert_allclose(curve.predicted, 2 * curve.x + 1, atol=1e-5)


@pytest.mark.parametrize("scale", ["standardize", "thousands"])
def test_series_prediction_in_views_and_time_order(scale):
    bundle = DATASETS["daily_views"].load({"num_days": 300, "window": 7, "scale": scale}, 0)
    result = probes.series_prediction(LastColumn(), bundle)
    np.testing.assert_array_equal(result.days, np.arange(7, 300))
    assert result.series.shape == (300,) and result.series.min() > 500  # views, not z-scores
    np.testing.assert_allclose(result.predicted, result.series[result.days - 1], rtol=1e-4)
    assert list(result.regions) == ["train", "val", "test"]
    assert result.regions["train"][0] == 7 and result.regions["test"][1] == 299
    assert result.regions["train"][1] + 1 == result.regions["val"][0]


# -- classifiers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image_classifier():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x, y = torch.rand(300, 1, 4, 4), torch.randint(0, 3, (300,))
    return model, x, y


def test_confusion_matrix_counts_every_example(image_classifier):
    model, x, y = image_classifier
    matrix = probes.confusion_matrix(model, x, y, 3)
    with torch.no_grad():
        correct = int((model(x).argmax(dim=1) == y).sum())
    assert matrix.shape == (3, 3) and matrix.sum() == 300
    assert np.trace(matrix) == correct
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(y.numpy(), minlength=3))


def test_confusion_matrix_with_one_output_unit():
    model = linear([[1.0]], [0.0])
    x, y = torch.tensor([[-2.0], [-1.0], [1.0], [3.0]]), torch.tensor([0, 1, 1, 1])
    matrix = probes.confusion_matrix(model, x, y, 2, loss="binary_cross_entropy")
    np.testing.assert_array_equal(matrix, [[1, 0], [1, 2]])


def test_confusion_matrix_of_an_empty_split(image_classifier):
    model, x, y = image_classifier
    np.testing.assert_array_equal(probes.confusion_matrix(model, x[:0], y[:0], 3), np.zeros((3, 3)))


def test_sample_predictions(image_classifier):
    model, x, y = image_classifier
    samples = probes.sample_predictions(model, x, y, count=16)
    assert len(samples) == 16 and samples[0].image.shape == (4, 4)
    with torch.no_grad():
        probabilities = torch.softmax(model(x[:16]), dim=1)
    for index, (image, true, predicted, probability) in enumerate(samples):
        assert true == int(y[index]) and predicted == int(probabilities[index].argmax())
        assert probability == pytest.approx(float(probabilities[index].max()), rel=1e-5)
    mistakes = probes.sample_predictions(model, x, y, count=5, only_mistakes=True)
    assert len(mistakes) == 5 and all(s.true != s.predicted for s in mistakes)


def test_class_probabilities():
    three = probes.class_probabilities(linear([[1.0], [2.0], [0.0]], [0, 0, 0]), torch.tensor([1.0]))
    np.testing.assert_allclose(three, np.exp([1, 2, 0]) / np.exp([1, 2, 0]).sum(), rtol=1e-5)
    two = probes.class_probabilities(linear([[1.0]], [0.0]), torch.tensor([0.5]))
    p = 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(two, [1 - p, p], rtol=1e-5)


# -- mode and gradients ----------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_probes_restore_the_model_mode_and_keep_no_graph(trained_circle, training):
    model, bundle = trained_circle
    wrapped = nn.Sequential(model, nn.Dropout(0.5))  # eval mode matters: dropout would add noise
    wrapped.train(training)
    first = probes.decision_boundary(wrapped, bundle, resolution=20)
    second = probes.decision_boundary(wrapped, bundle, resolution=20)
    np.testing.assert_array_equal(first.values, second.values)
    probes.class_probabilities(wrapped, bundle.x_train[0])
    probes.confusion_matrix(wrapped, bundle.x_train, bundle.y_train, 2, "binary_cross_entropy")
    assert all(module.training == training for module in wrapped.modules())
    model.train()


def test_evaluating_turns_off_gradients_and_training():
    model = linear([[1.0]], [0.0]).train()
    with probes.evaluating(model):
        assert not torch.is_grad_enabled() and not model.training
        assert not probes.forward(model, torch.ones(3, 1)).requires_grad
    assert torch.is_grad_enabled() and model.training


def test_probe_restores_mode_when_the_model_fails():
    model = linear([[1.0, 1.0]], [0.0]).train()
    with pytest.raises(RuntimeError):
        probes.class_probabilities(model, torch.zeros(5))
    assert model.training


@requires_cuda
@pytest.mark.gpu
def test_probes_on_a_cuda_model_match_the_cpu(trained_circle):
    model, bundle = trained_circle
    cpu = probes.decision_boundary(model, bundle, resolution=50)
    gpu = probes.decision_boundary(model.to("cuda"), bundle, resolution=50)
    model.to("cpu")
    np.testing.assert_allclose(gpu.values, cpu.values, atol=1e-4)
    matrix = probes.confusion_matrix(model.to("cuda"), bundle.x_test, bundle.y_test, 2)
    model.to("cpu")
    assert matrix.sum() == len(bundle.x_test)
