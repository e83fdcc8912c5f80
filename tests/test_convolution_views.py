"""Convolution views: filters, feature maps, activation maximisation, saliency, adversarial examples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from dlbuilder.compile import compile_graph
from dlbuilder.figures.convolution import (
    MAX_CELLS,
    adversarial_figure,
    feature_maps_figure,
    filter_figure,
    maximised_figure,
    saliency_figure,
)
from dlbuilder.figures.style import RIGHT_COLOUR, WRONG_COLOUR
from dlbuilder.inspection import adversarial
from dlbuilder.inspection.adversarial import (
    BISECTIONS,
    adversarial_example,
    class_scores,
    saliency,
    smallest_flipping_epsilon,
)
from dlbuilder.inspection.convolution import (
    MAX_STEPS,
    MAX_TARGETS,
    conv_filters,
    conv_nodes,
    feature_maps,
    image_nodes,
    maximise_activation,
)
from dlbuilder.presets import PRESETS
from dlbuilder.training.trainer import Trainer
from tests.test_figures import assert_valid_as_built


@pytest.fixture(scope="module")
def lenet():
    """The lenet preset trained for 3 epochs on digits (~3 s): (model, test images, test labels)."""
    document = PRESETS["lenet"].load()
    document.training["epochs"] = 3
    trainer = Trainer(document)
    while trainer.step():
        pass
    trainer.flush()
    model = trainer.setup.model
    model.train()  # as a job leaves it: every probe must put this mode back
    bundle = trainer.setup.bundle
    return model, bundle.x_test.float(), bundle.y_test


def test_the_trained_net_is_good_enough_to_fool(lenet):
    model, x, y = lenet
    with torch.no_grad():
        accuracy = (model.eval()(x).argmax(1) == y).float().mean().item()
    model.train()
    assert accuracy > 0.85


# -- filters and feature maps --------------------------------------------------------------------


def test_filter_grids_are_the_conv_weights(lenet):
    model, _, _ = lenet
    assert conv_nodes(model) == ["conv1", "conv2"]
    assert image_nodes(model) == ["conv1", "pool1", "conv2", "pool2"]
    first = conv_filters(model, "conv1")
    weight1 = model.conv1[0].weight.detach().numpy()  # (6, 1, 3, 3)
    assert first.images.shape == (6, 3, 3) and first.input_channel is None and first.in_channels == 1
    np.testing.assert_array_equal(first.images, weight1[:, 0])
    assert first.limit == pytest.approx(np.abs(weight1).max())
    weight2 = model.conv2[0].weight.detach().numpy()  # (16, 6, 3, 3)
    for channel in (0, 5):
        deeper = conv_filters(model, "conv2", input_channel=channel)
        assert deeper.images.shape == (16, 3, 3) and deeper.in_channels == 6
        np.testing.assert_array_equal(deeper.images, weight2[:, channel])
        assert deeper.limit == pytest.approx(np.abs(weight2).max())  # one scale for every channel's view


def test_filter_choices_that_cannot_be_shown_say_what_to_choose(lenet):
    model, _, _ = lenet
    with pytest.raises(ValueError, match="choose input_channel from 0 to 5"):
        conv_filters(model, "conv2")
    with pytest.raises(ValueError, match="choose input_channel from 0 to 5"):
        conv_filters(model, "conv2", input_channel=6)
    with pytest.raises(ValueError, match="not a conv2d layer: choose one of"):
        conv_filters(model, "dense1")
    with pytest.raises(ValueError, match="not a conv2d layer"):
        conv_filters(model, "no_such_node")


def test_feature_maps_equal_a_hand_forward_pass(lenet):
    model, x, _ = lenet
    image = x[3]
    maps = {m.node: m for m in feature_maps(model, image.numpy())}
    assert model.training  # mode restored
    c1, c2 = model.conv1[0], model.conv2[0]
    with torch.no_grad():
        conv1 = F.relu(F.conv2d(image[None], c1.weight, c1.bias, padding=1))
        pool1 = F.max_pool2d(conv1, 2)
        conv2 = F.relu(F.conv2d(pool1, c2.weight, c2.bias, padding=1))
        pool2 = F.max_pool2d(conv2, 2)
    for node, expected in (("conv1", conv1), ("pool1", pool1), ("conv2", conv2), ("pool2", pool2)):
        assert maps[node].maps.shape == expected.shape[1:]
        np.testing.assert_allclose(maps[node].maps, expected[0].numpy(), rtol=1e-5, atol=1e-6)
    assert [maps[n].kind for n in ("conv1", "pool1")] == ["conv", "pool"]


def test_an_image_of_the_wrong_shape_or_a_network_without_images_is_refused(lenet):
    model, _, _ = lenet
    with pytest.raises(ValueError, match=r"the image is \(1, 7, 7\) but the network reads \(1, 8, 8\)"):
        feature_maps(model, np.zeros((1, 7, 7)))
    with pytest.raises(ValueError, match="no layer named 'conv9': choose from"):
        feature_maps(model, np.zeros((1, 8, 8)), nodes=["conv9"])
    with pytest.raises(ValueError, match="not maps"):
        feature_maps(model, np.zeros((1, 8, 8)), nodes=["dense1"])
    with pytest.raises(ValueError, match="NaN or infinite"):
        saliency(model, np.full((1, 8, 8), np.nan))
    mlp = compile_graph(PRESETS["playground"].load())
    with pytest.raises(ValueError, match="input is an image"):
        maximise_activation(mlp, "output", [0])


# -- activation maximisation ---------------------------------------------------------------------


def test_activation_maximisation_raises_each_channel_well_above_the_noise(lenet):
    model, _, _ = lenet
    gradients = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    result = maximise_activation(model, "conv2", range(16), steps=100, learning_rate=0.05, seed=1)
    assert model.training
    for parameter, gradient in zip(model.parameters(), gradients):  # the job's gradients are left alone
        assert (parameter.grad is None) == (gradient is None)
        assert gradient is None or torch.equal(parameter.grad, gradient)
    assert result.images.shape == (16, 1, 8, 8) and result.targets == tuple(range(16)) and result.steps == 100
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0  # the data's valid range
    alive = result.after > 0  # a channel ReLU silences for every image in [0, 1] stays at 0
    assert alive.sum() >= 10
    assert np.all(result.after[alive] > 1.5 * result.before[alive])
    assert result.after.mean() > 2 * result.before.mean()
    # the reported activation is the channel's mean, measured on the returned images
    with torch.no_grad(), model.capture(["conv2"]) as captured:
        model.eval()(torch.as_tensor(result.images))
    model.train()
    np.testing.assert_allclose(captured.outputs["conv2"].mean(dim=(2, 3)).diagonal().numpy(), result.after,
                               rtol=1e-4, atol=1e-5)


def test_activation_maximisation_of_class_scores_with_regularisers(lenet):
    model, _, _ = lenet
    result = maximise_activation(model, "output", [0, 3, 7], steps=60, learning_rate=0.05,
                                 jitter=1, blur=0.5, l2=0.1, seed=2)
    assert result.images.shape == (3, 1, 8, 8)
    assert np.all(result.after > result.before + 3)  # logits: from about 0 to well above
    with torch.no_grad():
        scores = model.eval()(torch.as_tensor(result.images))
    model.train()
    assert scores.argmax(1).tolist() == [0, 3, 7]  # each image is its own class's best example
    same = maximise_activation(model, "output", [0, 3, 7], steps=60, learning_rate=0.05,
                               jitter=1, blur=0.5, l2=0.1, seed=2)
    np.testing.assert_array_equal(same.images, result.images)  # seeded


def test_progress_reports_every_step_and_can_stop_early(lenet):
    model, _, _ = lenet
    seen = []
    result = maximise_activation(model, "conv1", [0, 1], steps=50,
                                 progress=lambda done, total: seen.append((done, total)) or done < 5)
    assert result.steps == 5 and seen == [(k, 50) for k in range(1, 6)]


@pytest.mark.parametrize("arguments, message", [
    ({"steps": MAX_STEPS + 1}, f"steps must be between 1 and {MAX_STEPS}"),
    ({"steps": 0}, "steps must be between"),
    ({"learning_rate": float("nan")}, "learning_rate must be between"),
    ({"learning_rate": 1e9}, "learning_rate must be between"),
    ({"jitter": 5}, "jitter must be between 0 and 4"),
    ({"blur": -1}, "blur must be between"),
    ({"l2": float("inf")}, "l2 must be between"),
    ({"value_range": (1.0, 0.0)}, "value_range .* is empty"),
    ({"targets": range(MAX_TARGETS + 1)}, f"between 1 and {MAX_TARGETS} channels"),
    ({"targets": range(10**12)}, f"between 1 and {MAX_TARGETS} channels"),
    ({"targets": []}, f"between 1 and {MAX_TARGETS} channels"),
    ({"targets": [6]}, "conv1 has 6 channels or units: choose targets from 0 to 5"),
    ({"node": "nowhere"}, "no layer named 'nowhere'"),
    ({"node": "flatten", "targets": [0]}, None),  # a vector node: units are fine
])
def test_hostile_ascent_settings_get_clear_errors(lenet, arguments, message):
    model, _, _ = lenet
    call = {"node": "conv1", "targets": [0], "steps": 2, **arguments}
    if message is None:
        assert maximise_activation(model, **call).images.shape == (1, 1, 8, 8)
        return
    with pytest.raises(ValueError, match=message):
        maximise_activation(model, **call)


# -- saliency --------------------------------------------------------------------------------


def test_saliency_is_the_gradient_of_the_class_score(lenet):
    model, x, _ = lenet
    image = x[5]
    result = saliency(model, image.numpy())
    assert model.training
    assert result.map.shape == (8, 8) and result.map.max() > 0 and np.all(result.map >= 0)
    with torch.no_grad():
        scores = model.eval()(image[None])
    model.train()
    assert result.target == result.predicted == int(scores.argmax())
    assert result.probability == pytest.approx(float(torch.softmax(scores, 1).max()), rel=1e-5)
    # central differences at the most salient pixel and at another one (the net is piecewise linear)
    for row, column in [np.unravel_index(result.map.argmax(), (8, 8)), (2, 3)]:
        step = torch.zeros_like(image)
        step[0, row, column] = 1e-3
        with torch.no_grad():
            model.eval()
            slope = (model(image[None] + step)[0, result.target] - model(image[None] - step)[0, result.target]) / 2e-3
            model.train()
        assert result.map[row, column] == pytest.approx(abs(float(slope)), rel=1e-2, abs=1e-3)
    other = saliency(model, image.numpy(), target=(result.predicted + 1) % 10)
    assert other.target != result.target and not np.allclose(other.map, result.map)
    with pytest.raises(ValueError, match="choose a class from 0 to 9"):
        saliency(model, image.numpy(), target=10)


def test_one_output_unit_has_two_class_scores():
    z = torch.tensor([[2.0], [-1.0]])
    assert class_scores(z).tolist() == [[-2.0, 2.0], [1.0, -1.0]]


# -- adversarial examples --------------------------------------------------------------------


def _prediction(model, image: np.ndarray) -> int:
    with torch.no_grad():
        prediction = int(model.eval()(torch.as_tensor(image, dtype=torch.float32)[None]).argmax())
    model.train()
    return prediction


def test_the_adversarial_image_stays_within_the_budget_and_the_valid_range(lenet):
    model, x, _ = lenet
    for index in range(5):
        result = adversarial_example(model, x[index].numpy(), epsilon=0.1, search=False)
        assert np.abs(result.perturbation).max() <= 0.1 + 1e-6
        np.testing.assert_allclose(result.perturbed - result.original, result.perturbation, atol=1e-7)
        assert result.perturbed.min() >= 0.0 and result.perturbed.max() <= 1.0
        assert result.smallest_epsilon is None  # no search asked for
        assert result.original_class == _prediction(model, result.original)
        assert result.perturbed_class == _prediction(model, result.perturbed)
    assert model.training


def test_fgsm_flips_predictions_at_the_reported_smallest_epsilon_and_not_below(lenet):
    model, x, y = lenet
    flipped = 0
    for index in range(12):
        image = x[index].numpy()
        smallest = smallest_flipping_epsilon(model, image)
        if smallest is None:
            continue
        flipped += 1
        at = adversarial_example(model, image, epsilon=smallest)
        assert at.flipped and at.smallest_epsilon == pytest.approx(smallest)
        assert np.abs(at.perturbation).max() <= smallest + 1e-6
        assert at.perturbed_class == _prediction(model, at.perturbed) != _prediction(model, image)
        resolution = 0.25 / 50 / 2 ** BISECTIONS  # max_epsilon / grid / 2**BISECTIONS
        below = adversarial_example(model, image, epsilon=smallest - resolution, search=False)
        assert not below.flipped
        for epsilon in np.linspace(0, 0.25, 51)[1:]:  # no grid epsilon below it flips
            if epsilon < smallest - resolution:
                assert not adversarial_example(model, image, epsilon=float(epsilon), search=False).flipped
    assert flipped >= 6  # most digits fall to a small, barely visible change


def test_the_search_gives_the_same_answer_in_small_chunks(lenet, monkeypatch):
    model, x, _ = lenet
    whole = [smallest_flipping_epsilon(model, x[index].numpy(), grid=200) for index in range(4)]
    monkeypatch.setattr(adversarial, "SEARCH_CHUNK", 3)
    assert [smallest_flipping_epsilon(model, x[index].numpy(), grid=200) for index in range(4)] == whole
    assert sum(value is not None for value in whole) >= 2


def test_no_flip_within_a_tiny_budget_is_none_and_hostile_epsilons_are_refused(lenet):
    model, x, _ = lenet
    assert smallest_flipping_epsilon(model, x[0].numpy(), max_epsilon=1e-6, grid=2) is None
    for epsilon in (-0.1, float("nan"), 1.5):
        with pytest.raises(ValueError, match="epsilon must be between 0 and 1"):
            adversarial_example(model, x[0].numpy(), epsilon=epsilon)
    with pytest.raises(ValueError, match="grid must be between"):
        smallest_flipping_epsilon(model, x[0].numpy(), grid=10**6)
    with pytest.raises(ValueError, match="choose a label from 0 to 9"):
        adversarial_example(model, x[0].numpy(), epsilon=0.1, label=12)


def test_a_true_label_can_drive_the_step(lenet):
    model, x, y = lenet
    result = adversarial_example(model, x[1].numpy(), epsilon=0.05, label=int(y[1]), search=False)
    assert result.label == int(y[1])


# -- figures ---------------------------------------------------------------------------------


def _heatmaps(figure) -> list:
    return [trace for trace in figure.data if trace.type == "heatmap"]


def test_filter_figure_uses_a_symmetric_diverging_scale(lenet):
    model, _, _ = lenet
    filters = conv_filters(model, "conv2", input_channel=1)
    figure = filter_figure(filters.images, filters.limit, "conv2", 1)
    assert_valid_as_built(figure)
    assert len(_heatmaps(figure)) == 16
    np.testing.assert_array_equal(np.asarray(figure.data[4].z), filters.images[4].astype(np.float32))
    axis = figure.layout.coloraxis
    assert axis.cmin == -axis.cmax == pytest.approx(-filters.limit) and axis.showscale
    assert "conv2 filters, input channel 1" in figure.layout.title.text
    colour = filter_figure(np.random.default_rng(0).normal(size=(4, 3, 3, 3)))
    assert_valid_as_built(colour)
    assert [trace.type for trace in colour.data] == ["image"] * 4
    with pytest.raises(ValueError, match="at most"):
        filter_figure(np.zeros((MAX_CELLS + 1, 3, 3)))


def test_feature_map_figure_shares_one_scale(lenet):
    model, x, _ = lenet
    maps = feature_maps(model, x[0].numpy())[2]  # conv2: (16, 4, 4), after ReLU
    figure = feature_maps_figure(maps.maps, maps.node)
    assert_valid_as_built(figure)
    assert len(_heatmaps(figure)) == 16
    assert figure.layout.coloraxis.cmin == 0 and figure.layout.coloraxis.cmax == pytest.approx(maps.maps.max())
    signed = feature_maps_figure(np.array([[[-2.0, 1.0]], [[0.5, 0.0]]]))
    assert signed.layout.coloraxis.cmin == -2.0 and signed.layout.coloraxis.cmax == 2.0


def test_a_channel_that_never_fires_is_labelled_silent():
    maps = np.zeros((3, 4, 4))
    maps[1, 2, 2] = 0.5
    titles = [annotation.text for annotation in feature_maps_figure(maps).layout.annotations]
    assert titles == ["channel 0 · silent", "channel 1", "channel 2 · silent"]


def test_maximised_saliency_and_adversarial_figures(lenet):
    model, x, _ = lenet
    grown = maximise_activation(model, "output", [1, 2], steps=5)
    figure = maximised_figure(grown.images, grown.targets, grown.before, grown.after, "output",
                              class_names=[str(d) for d in range(10)])
    assert_valid_as_built(figure)
    assert figure.layout.annotations[0].text.startswith("class 1<br>")
    found = saliency(model, x[0].numpy())
    figure = saliency_figure(x[0].numpy(), found.map, found.target, found.predicted, found.probability)
    assert_valid_as_built(figure)
    assert [trace.coloraxis for trace in figure.data] == ["coloraxis", "coloraxis2"]
    result = adversarial_example(model, x[4].numpy(), epsilon=0.2)
    figure = adversarial_figure(result.original, result.perturbation, result.perturbed, result.epsilon,
                                (result.original_class, result.original_confidence),
                                (result.perturbed_class, result.perturbed_confidence), result.smallest_epsilon)
    assert_valid_as_built(figure)
    assert figure.layout.coloraxis2.cmin == -0.2 and figure.layout.coloraxis2.cmax == 0.2
    expected = WRONG_COLOUR if result.flipped else RIGHT_COLOUR
    assert figure.layout.annotations[2].font.color == expected
    assert ("smallest flipping ε" in figure.layout.title.text) == (result.smallest_epsilon is not None)


def test_every_convolution_figure_renders_in_apptest(lenet):
    model, x, _ = lenet
    filters = conv_filters(model, "conv1")
    maps = feature_maps(model, x[0].numpy())[0]
    grown = maximise_activation(model, "conv2", [0, 1, 2], steps=5)
    found = saliency(model, x[0].numpy())
    result = adversarial_example(model, x[0].numpy(), epsilon=0.1)
    figures = [filter_figure(filters.images, filters.limit, "conv1"), feature_maps_figure(maps.maps, "conv1"),
               maximised_figure(grown.images, grown.targets, grown.before, grown.after, "conv2"),
               saliency_figure(x[0].numpy(), found.map, found.target, found.predicted, found.probability),
               adversarial_figure(result.original, result.perturbation, result.perturbed, result.epsilon,
                                  (result.original_class, result.original_confidence),
                                  (result.perturbed_class, result.perturbed_confidence), result.smallest_epsilon)]

    def page(figures):
        import streamlit as st

        for index, figure in enumerate(figures):
            st.plotly_chart(figure, key=f"convolution-{index}")

    app = AppTest.from_function(page, default_timeout=30, args=(figures,)).run()
    assert not app.exception
    charts = app.get("plotly_chart")
    assert len(charts) == 5
    counts = [len(json.loads(chart.proto.spec)["data"]) for chart in charts]
    assert counts == [6, 6, 3, 2, 3]
    assert not math.isnan(json.loads(charts[4].proto.spec)["layout"]["coloraxis2"]["cmax"])
