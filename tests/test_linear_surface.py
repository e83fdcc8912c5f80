"""The exact loss surface of y = w*x + b, optimizers' paths on it (checked against torch.optim), figures."""

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from dlbuilder.datasets import DATASETS, DatasetError
from dlbuilder.figures.surface import MAX_FRAMES, contour_figure, surface_figure
from dlbuilder.inspection.linear_surface import (
    OPTIMIZER_NAMES,
    PRESET_FACTORS,
    OptimizerSettings,
    default_start,
    descend,
    learning_rate_presets,
    linear_problem,
    load_linear_problem,
    loss_surface,
    race,
    race_learning_rates,
)
from tests.test_figures import assert_valid_as_built


def noisy_line(count=200, seed=0):
    """Off-centre x (so w and b are coupled and the valley is tilted), y = 1.5 x - 2 + noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(1, 4, count)
    return x, 1.5 * x - 2 + rng.normal(0, 0.5, count)


def direct_mse(x, y, w, b):
    return float(np.mean((w * x + b - y) ** 2))


@pytest.fixture(scope="module")
def sine():
    return load_linear_problem("sine", seed=3)


def test_closed_form_equals_the_mean_squared_error_at_sample_points():
    x, y = noisy_line()
    problem = linear_problem(x, y)
    rng = np.random.default_rng(1)
    for w, b in rng.normal(0, 3, (20, 2)):
        assert problem.loss(w, b) == pytest.approx(direct_mse(x, y, w, b), rel=1e-12)
        grad = problem.gradient(w, b)
        assert grad == pytest.approx([np.mean(2 * (w * x + b - y) * x), np.mean(2 * (w * x + b - y))], rel=1e-10)
    surface = loss_surface(problem, resolution=31)
    assert surface.loss.shape == (31, 31) and surface.w.shape == surface.b.shape == (31,)
    for i, j in [(0, 0), (5, 17), (30, 30), (15, 2)]:  # rows follow b, columns follow w
        assert surface.loss[i, j] == pytest.approx(direct_mse(x, y, surface.w[j], surface.b[i]), rel=1e-12)


def test_the_minimum_is_the_least_squares_line():
    x, y = noisy_line()
    problem = linear_problem(x, y)
    slope, intercept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(problem.optimum, [slope, intercept], rtol=1e-10)
    assert problem.minimum_loss == pytest.approx(direct_mse(x, y, slope, intercept), rel=1e-10)
    surface = loss_surface(problem, resolution=41)
    row, column = np.unravel_index(np.argmin(surface.loss), surface.loss.shape)
    assert (row, column) == (20, 20)  # the grid is centred on the optimum
    assert (surface.w[20], surface.b[20]) == pytest.approx((slope, intercept))
    assert surface.loss.min() >= problem.minimum_loss - 1e-12
    np.testing.assert_allclose(problem.hessian, 2 * np.array([[np.mean(x * x), x.mean()], [x.mean(), 1]]))


def test_the_grid_covers_the_start_and_is_square_unless_asked(sine):
    start = default_start(sine)
    for square in (True, False):
        surface = loss_surface(sine, square=square)
        assert surface.w[0] < start[0] < surface.w[-1] and surface.b[0] < start[1] < surface.b[-1]
        widths = surface.w[-1] - surface.w[0], surface.b[-1] - surface.b[0]
        assert (widths[0] == pytest.approx(widths[1])) == square
    # the default start's loss exceeds the minimum by Var(y)
    assert sine.loss(*start) == pytest.approx(sine.minimum_loss + sine.var_y)


def test_problem_from_the_dataset_registry_and_clear_errors():
    bundle = DATASETS["sine"].load({}, 5)
    from_registry = load_linear_problem("sine", seed=5)
    assert from_registry == linear_problem(bundle.x_train.numpy(), bundle.y_train.numpy())
    assert load_linear_problem("sine", seed=6) != from_registry
    with pytest.raises(DatasetError, match="not a 1-D regression set"):
        load_linear_problem("plane")
    with pytest.raises(DatasetError, match="choose one of"):
        load_linear_problem("no such set")
    with pytest.raises(ValueError, match="x varies"):
        linear_problem(np.ones(10), np.arange(10))
    with pytest.raises(ValueError, match="finite"):
        linear_problem([0.0, 1.0, np.nan], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="choose one of"):
        descend(from_registry, "lbfgs")


def test_presets_crawl_converge_and_diverge(sine):
    presets = learning_rate_presets(sine)
    largest = np.linalg.eigvalsh(sine.hessian)[-1]
    assert presets == pytest.approx({name: factor / largest for name, factor in PRESET_FACTORS.items()})
    start = default_start(sine)
    paths = {name: descend(sine, "sgd", lr, steps=300) for name, lr in presets.items()}
    too_large, right, too_small = paths["too large"], paths["right"], paths["too small"]
    assert too_large.diverged and too_large.diverged_at < 60 and len(too_large.w) == too_large.diverged_at + 1
    assert too_large.loss[-1] > 1e3 * too_large.loss[0]
    steps_w = np.diff(too_large.w[:12])
    assert (np.sign(steps_w[1:]) != np.sign(steps_w[:-1])).all()  # zig-zags across the valley
    assert not right.diverged and len(right.w) == 301
    np.testing.assert_allclose([right.w[-1], right.b[-1]], sine.optimum, atol=1e-4)
    assert right.loss[-1] == pytest.approx(sine.minimum_loss, rel=1e-6)
    assert not too_small.diverged and (np.diff(too_small.loss) < 0).all()  # every step helps, a little
    crawled = np.abs([too_small.w[-1], too_small.b[-1]] - sine.optimum).max()
    assert crawled > 0.1 * np.abs(start - sine.optimum).max()
    assert (right.w[0], right.b[0]) == tuple(start)


def test_gradient_descent_diverges_exactly_above_two_over_the_largest_curvature():
    problem = linear_problem(*noisy_line())
    largest = np.linalg.eigvalsh(problem.hessian)[-1]
    assert not descend(problem, "sgd", 1.98 / largest, steps=3000).diverged
    assert descend(problem, "sgd", 2.02 / largest, steps=3000).diverged


@pytest.mark.parametrize("optimizer", OPTIMIZER_NAMES)
def test_updates_equal_torch_optim(optimizer):
    x, y = noisy_line(60, seed=2)
    problem = linear_problem(x, y)
    start = default_start(problem)
    settings = OptimizerSettings(momentum=0.8, alpha=0.95, beta1=0.85, beta2=0.99, eps=1e-6)
    lr = race_learning_rates(problem, start)[optimizer]
    ours = descend(problem, optimizer, lr, start, steps=40, settings=settings)
    assert not ours.diverged
    w, b = (torch.tensor(value, dtype=torch.float64, requires_grad=True) for value in start)
    build = {"sgd": lambda: torch.optim.SGD([w, b], lr=lr),
             "momentum": lambda: torch.optim.SGD([w, b], lr=lr, momentum=settings.momentum),
             "rmsprop": lambda: torch.optim.RMSprop([w, b], lr=lr, alpha=settings.alpha, eps=settings.eps),
             "adam": lambda: torch.optim.Adam([w, b], lr=lr, betas=(settings.beta1, settings.beta2),
                                              eps=settings.eps)}
    torch_optimizer = build[optimizer]()
    xs, ys = torch.as_tensor(x), torch.as_tensor(y)
    path, losses = [(w.item(), b.item())], []
    for _ in range(40):
        torch_optimizer.zero_grad()
        loss = torch.mean((w * xs + b - ys) ** 2)
        losses.append(loss.item())
        loss.backward()
        torch_optimizer.step()
        path.append((w.item(), b.item()))
    np.testing.assert_allclose(np.stack([ours.w, ours.b], axis=1), path, atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours.loss[:-1], losses, rtol=1e-9)
    assert np.abs(np.diff(ours.w)).max() > 1e-3  # the paths really moved


def test_race_starts_every_optimizer_at_one_point_and_all_reach_the_valley(sine):
    paths = race(sine, steps=200)
    assert list(paths) == list(OPTIMIZER_NAMES)
    start = default_start(sine)
    for name, path in paths.items():
        assert (path.w[0], path.b[0]) == tuple(start)
        assert not path.diverged, name
        assert path.loss[-1] < sine.minimum_loss + 0.05 * sine.var_y, name
    assert race(sine, steps=5, learning_rates={"adam": 0.5}, optimizers=("adam",))["adam"].learning_rate == 0.5


# -- figures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drawn(sine):
    paths = [descend(sine, "sgd", lr, steps=80) for lr in learning_rate_presets(sine).values()]
    return loss_surface(sine, resolution=41), paths


@pytest.mark.parametrize("build", [contour_figure, surface_figure])
def test_figures_are_valid_and_replay_to_the_chosen_step(build, drawn):
    surface, paths = drawn
    full, at_five = build(surface, paths), build(surface, paths, step=5)
    for figure in (full, at_five, build(surface)):
        assert_valid_as_built(figure)
    assert len(full.data) == 2 + 3 * len(paths)  # loss, optimum, then line, head, start per path
    assert len(at_five.data[2].x) == 6 and at_five.data[3].x[0] == paths[0].w[5]
    assert at_five.data[4].x[0] == paths[0].w[0]  # the start stays marked
    np.testing.assert_allclose(at_five.data[3].customdata, [[paths[0].loss[5], 5]])  # hover: loss, step
    np.testing.assert_allclose(full.data[0].z, surface.loss)
    diverged = paths[2]
    assert diverged.diverged
    head = full.data[2 + 3 * 2 + 1]
    if build is contour_figure:
        assert len(full.data[2].x) == len(paths[0].w)
        assert head.marker.symbol == "x" and head.x[0] == diverged.w[-1]
        assert full.data[2 + 3 * 2].name.endswith(f"diverged at step {diverged.diverged_at}")
        assert "diverged" not in at_five.data[2 + 3 * 2].name
        assert at_five.data[2 + 3 * 2 + 1].marker.symbol == "diamond"  # not diverged yet at step 5
    else:  # 3-D: cut where the path leaves the grid, above the surface
        line = full.data[2 + 3 * 2]
        assert len(line.x) < len(diverged.w) and np.max(np.abs(line.x)) <= np.abs(surface.w).max() + 1e-9
        assert (np.asarray(full.data[2].z) > np.asarray(full.data[2].customdata)[:, 0]).all()


@pytest.mark.parametrize("build", [contour_figure, surface_figure])
def test_animated_figures_carry_frames_and_a_play_button(build, drawn):
    surface, paths = drawn
    figure = build(surface, paths, animate=True)
    assert_valid_as_built(figure)
    assert 2 <= len(figure.frames) <= MAX_FRAMES
    assert len(figure.data[2].x) == 1  # starts at step 0
    first, last = figure.frames[0], figure.frames[-1]
    assert first.name == "0" and last.name == str(max(len(path.w) for path in paths) - 1)
    assert list(last.traces) == [2, 3, 5, 6, 8, 9]  # each path's line and head
    if build is contour_figure:
        assert len(last.data[0].x) == len(paths[0].w)
    assert figure.layout.updatemenus[0].buttons[0].method == "animate"
    assert len(figure.layout.sliders[0].steps) == len(figure.frames)


def render_surfaces():
    import streamlit as st

    from dlbuilder.figures.surface import contour_figure, surface_figure
    from dlbuilder.inspection.linear_surface import load_linear_problem, loss_surface, race

    problem = load_linear_problem("sine", seed=0)
    surface, paths = loss_surface(problem, resolution=21), list(race(problem, steps=20).values())
    st.plotly_chart(contour_figure(surface, paths, step=10))
    st.plotly_chart(surface_figure(surface, paths, step=10))
    st.plotly_chart(contour_figure(surface, paths, animate=True))
    st.plotly_chart(surface_figure(surface, paths, animate=True))


def test_figures_render_in_apptest():
    app = AppTest.from_function(render_surfaces, default_timeout=60).run()
    assert not app.exception
    assert len(app.get("plotly_chart")) == 4
