"""Loss landscapes: filter-normalised planes, progressive grids, PCA paths, interpolation, the relay of
snapshots from a worker process, and their figures."""

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from streamlit.testing.v1 import AppTest
from torch import nn

from dlbuilder.figures.landscape import interpolation_figure, loss_contour_figure, loss_surface_figure
from dlbuilder.inspection.grid import PROGRESS_POINTS, progressive_surface
from dlbuilder.inspection.landscape import (
    LossProbe,
    evaluation_probe,
    filter_normalised_direction,
    flat_weights,
    interpolation,
    random_directions,
    random_plane_surfaces,
)
from dlbuilder.inspection.training_path import path_plane_surfaces, pca_plane
from dlbuilder.presets import PRESETS
from dlbuilder.training.evaluation import evaluate
from dlbuilder.training.process_runner import ProcessRunner
from dlbuilder.training.relayed import RelayedMetrics
from dlbuilder.training.setup import Split
from dlbuilder.training.trainer import Trainer


@pytest.fixture(scope="module")
def playground():
    """The Playground preset's setup, trained for a few epochs, with a probe on 64 examples."""
    document = PRESETS["playground"].load()
    document.training["epochs"] = 4
    trainer = Trainer(document, fast_path=False)
    while trainer.step():
        pass
    return trainer


def mlp_probe(batched=True, examples=64):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    x, y = torch.randn(examples, 3), torch.randint(0, 2, (examples,))
    return LossProbe(model, x, y, nn.CrossEntropyLoss(), "cross_entropy", batched)


def test_the_centre_of_the_random_plane_is_the_current_loss(playground):
    setup = playground.setup
    probe = evaluation_probe(setup, examples=64)
    *_, surface = random_plane_surfaces(probe, seed=3)
    subset = setup.splits["train"]
    score = evaluate(setup, Split(subset.x[:64], subset.t[:64], subset.y[:64]))
    assert surface.loss.shape == (41, 41) and surface.examples == 64 and surface.final
    assert surface.alphas[20] == 0.0 and surface.betas[20] == 0.0
    assert surface.loss_at(0.0, 0.0) == pytest.approx(score.loss, rel=1e-5)
    assert np.isfinite(surface.loss).all() and surface.loss.max() > surface.loss_at(0.0, 0.0)


def test_each_filter_of_a_direction_has_its_weights_norm_and_one_dimensional_parameters_stay():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 3 * 3, 5),
                          nn.LayerNorm(5))
    direction = filter_normalised_direction(model, torch.Generator().manual_seed(0))
    pieces = torch.split(direction, [p.numel() for p in model.parameters()])
    for piece, weight in zip(pieces, model.parameters()):
        piece = piece.view(weight.shape)
        if weight.dim() == 1:  # biases, BatchNorm and LayerNorm scales
            assert torch.count_nonzero(piece) == 0
        else:  # one norm per output channel (conv) or output unit (linear)
            expected = weight.detach().flatten(1).norm(dim=1)
            assert torch.allclose(piece.flatten(1).norm(dim=1), expected, rtol=1e-5)
            assert not torch.allclose(piece, weight.detach())  # random, not the weights themselves
    first, again = random_directions(model, seed=7), random_directions(model, seed=7)
    assert torch.equal(first, again) and not torch.allclose(first[0], first[1])


def test_vmapped_and_looped_evaluation_agree():
    batched, looped = mlp_probe(batched=True), mlp_probe(batched=False)
    noise = torch.randn(12, batched.size, generator=torch.Generator().manual_seed(2))
    weights = flat_weights(batched.model) + 0.3 * noise
    a, b = batched(weights), looped(weights)
    assert batched.method in ("vmap", "loop") and looped.method == "loop"
    np.testing.assert_allclose(a, b, rtol=1e-5)
    batched.method = "vmap"  # forced, whatever the timing chose
    np.testing.assert_allclose(batched(weights), b, rtol=1e-5)
    assert batched.method == "vmap"


class DataDependent(nn.Module):
    """A layer with Python control flow on values: vmap refuses it."""

    def forward(self, x):
        return x if float(x.sum()) > 0 else -x


def test_a_network_vmap_refuses_falls_back_to_the_loop():
    probe = mlp_probe()
    probe.model.append(DataDependent())
    probe.method = "vmap"
    weights = flat_weights(probe.model)[None].repeat(3, 1)
    losses = probe(weights)
    assert probe.method == "loop" and losses.shape == (3,) and np.ptp(losses) == 0


def test_a_convolutional_network_scores_the_same_both_ways():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(3),
                          nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    model.eval()
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 3, (16,))
    probes = [LossProbe(model, x, y, nn.CrossEntropyLoss(), "cross_entropy", batched) for batched in (True, False)]
    probes[0].method = "vmap"
    center, directions = flat_weights(model), random_directions(model)
    points = np.array([[0.0, 0.0], [0.5, -0.2], [-1.0, 1.0]])
    vmapped, looped = (probe.combination(center, directions, points) for probe in probes)
    np.testing.assert_allclose(vmapped, looped, rtol=1e-5)
    assert model.training is False  # the probe restores the mode it found


def test_the_grid_is_coarse_first_and_refined_reusing_its_points():
    probe = mlp_probe(batched=False)
    scored = []
    original = probe.combination

    def counting(origin, directions, coefficients):
        scored.append(len(coefficients))
        return original(origin, directions, coefficients)

    probe.combination = counting
    levels = list(progressive_surface(probe, flat_weights(probe.model), random_directions(probe.model)))
    assert [s.loss.shape for s in levels] == [(11, 11), (21, 21), (41, 41)]
    assert sum(scored) == 1681 and max(scored) <= PROGRESS_POINTS  # every point once, in small parts
    assert [s.final for s in levels] == [False, False, True]
    np.testing.assert_array_equal(levels[0].loss, levels[2].loss[::4, ::4])
    np.testing.assert_array_equal(levels[1].loss, levels[2].loss[::2, ::2])
    with pytest.raises(ValueError, match="does not nest"):
        next(progressive_surface(probe, flat_weights(probe.model), random_directions(probe.model),
                                 resolutions=(10, 41)))


def synthetic_run(start: torch.Tensor, seed: int, epochs: int = 6) -> list[tuple[int, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    steps = torch.randn(epochs, len(start), generator=generator) * 0.1
    return [(epoch, start + steps[:epoch].sum(dim=0)) for epoch in range(epochs + 1)]


def test_the_pca_path_ends_at_the_final_weights_and_other_runs_share_the_plane():
    probe = mlp_probe(batched=False)
    start = flat_weights(probe.model)
    first, second = synthetic_run(start, 1), synthetic_run(start, 2)
    plane = pca_plane([first, second], labels=["seed 1", "seed 2"], probe=probe)
    gram = plane.directions @ plane.directions.T
    assert torch.allclose(gram, torch.eye(2), atol=1e-5)  # orthonormal
    path, other = plane.paths
    assert path.label == "seed 1" and list(path.epochs) == list(range(7))
    np.testing.assert_allclose(path.coordinates[-1], [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(path.coordinates[0], other.coordinates[0], atol=1e-5)  # one start
    assert not np.allclose(other.coordinates[-1], 0.0, atol=1e-3)  # ends elsewhere
    assert 0.5 < sum(plane.explained) <= 1.0 + 1e-9 and plane.explained[0] >= plane.explained[1]
    assert path.loss[-1] == pytest.approx(float(probe(first[-1][1][None])[0]), rel=1e-5)
    (alpha_low, alpha_high), (beta_low, beta_high) = plane.extent()
    points = np.concatenate([path.coordinates, other.coordinates])
    assert alpha_low < points[:, 0].min() and alpha_high > points[:, 0].max()
    assert beta_low < points[:, 1].min() and beta_high > points[:, 1].max()
    levels = list(path_plane_surfaces(probe, plane, resolutions=(5, 9)))
    assert levels[-1].loss.shape == (9, 9) and np.isfinite(levels[-1].loss).all()


def test_a_straight_path_is_its_first_principal_direction():
    start, line = torch.zeros(30), torch.linspace(-1, 1, 30)
    noise = torch.randn(9, 30, generator=torch.Generator().manual_seed(4)) * 1e-3
    run = [(epoch, start + epoch * line + noise[epoch]) for epoch in range(9)]
    plane = pca_plane([run])
    assert abs(float(plane.directions[0] @ (line / line.norm()))) == pytest.approx(1.0, abs=1e-4)
    assert plane.explained[0] > 0.999
    distances = np.linalg.norm(plane.paths[0].coordinates, axis=1)  # lengths kept: the basis is orthonormal
    expected = [float((run[k][1] - run[-1][1]).norm()) for k in range(9)]
    np.testing.assert_allclose(distances, expected, rtol=1e-3, atol=1e-4)


def test_a_short_path_still_gets_a_plane():
    probe = mlp_probe(batched=False)
    start = flat_weights(probe.model)
    plane = pca_plane([synthetic_run(start, 3, epochs=1)])  # two snapshots: one direction of motion
    assert torch.allclose(plane.directions @ plane.directions.T, torch.eye(2), atol=1e-5)
    assert plane.explained[1] == 0.0 and plane.paths[0].label == "run 1"
    np.testing.assert_allclose(plane.paths[0].coordinates[-1], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="no weight snapshots"):
        pca_plane([[]])


def test_interpolation_runs_from_the_initial_to_the_final_loss():
    probe = mlp_probe(batched=False)
    start = flat_weights(probe.model)
    end = start + 0.5
    curve = interpolation(probe, start, end, alphas=[-0.5, 0.0, 0.5, 1.0, 1.5])
    assert curve.loss.shape == (5,) and curve.examples == 64
    assert curve.loss[1] == pytest.approx(float(probe(start[None])[0]), rel=1e-6)
    assert curve.loss[3] == pytest.approx(float(probe(end[None])[0]), rel=1e-6)


def test_relayed_metrics_mirror_the_worker_thinning():
    metrics = RelayedMetrics(max_snapshots=4)
    flat = torch.zeros(2)
    metrics.mirror_snapshots([(0, flat), (1, flat)], [0, 1])
    metrics.mirror_snapshots([(2, flat), (3, flat), (4, flat)], [0, 2, 4])  # the worker dropped 1 and 3
    assert [epoch for epoch, _ in metrics.snapshots()] == [0, 2, 4]


def test_a_worker_relays_its_weight_snapshots_to_the_parent():
    document = PRESETS["playground"].load()
    document.training["epochs"] = 3
    runner = ProcessRunner(max_active=1)
    try:
        job = runner.submit(document)
        assert job.wait(120) and job.status == "finished"
        snapshots = job.metrics.snapshots()
        assert [epoch for epoch, _ in snapshots] == [0, 1, 2, 3]
        final = torch.cat([t.flatten() for t in job.state_dict().values()])
        assert torch.equal(snapshots[-1][1], final)  # 25 parameters, no buffers
        assert not torch.equal(snapshots[0][1], snapshots[-1][1])
    finally:
        runner.shutdown()


def figures_of(trainer):
    probe = evaluation_probe(trainer.setup, examples=64)
    *_, surface = random_plane_surfaces(probe, resolutions=(5, 9))
    plane = pca_plane([trainer.metrics.snapshots()], probe=probe)
    *_, plane_surface = path_plane_surfaces(probe, plane, resolutions=(5, 9))
    curve = interpolation(probe, trainer.metrics.snapshots()[0][1], plane.center)
    return (loss_contour_figure(surface), loss_surface_figure(surface, log_scale=True),
            loss_contour_figure(plane_surface, plane.paths, ("PC 1", "PC 2"), mark_centre=False),
            loss_surface_figure(plane_surface, plane.paths), interpolation_figure(curve))


def test_figures_carry_the_data_the_subset_and_are_valid(playground):
    plain, surface, path, path_surface, curve = figures_of(playground)
    for figure in (plain, surface, path, path_surface, curve):
        go.Figure(figure.to_dict())  # plotly's validation accepts what build_figure skipped
        assert "fixed subset of 64 examples" in figure.layout.annotations[0].text
    assert plain.data[0].type == "contour" and len(plain.data[0].z) == 9
    assert surface.data[0].type == "surface" and surface.layout.scene.zaxis.title.text == "log10 loss"
    names = [trace.name for trace in path.data]
    assert "run 1" in names and list(path.data[-1].text) == ["start", "end"]
    assert tuple(path.data[-1].x) == pytest.approx((path.data[-2].x[0], 0.0), abs=1e-6)  # ends at the centre
    assert path_surface.data[1].type == "scatter3d" and len(path_surface.data[1].x) == 5  # epochs 0-4
    assert curve.data[0].x[0] == -0.5 and [t.text[0] for t in curve.data[1:]] == ["initial", "final"]


def render_landscape_figures():
    import numpy as np
    import streamlit as st

    from dlbuilder.figures.landscape import interpolation_figure, loss_contour_figure, loss_surface_figure
    from dlbuilder.inspection.grid import LossSurface
    from dlbuilder.inspection.landscape import Interpolation
    from dlbuilder.inspection.training_path import TrainingPath

    grid = np.linspace(-1, 1, 5)
    surface = LossSurface(grid, grid, np.add.outer(grid ** 2, grid ** 2) + 0.1, 512, "vmap", 0.1, True)
    path = TrainingPath("run 1", np.arange(3), np.array([[0.8, 0.6], [0.3, 0.2], [0.0, 0.0]]),
                        np.array([1.1, 0.2, 0.1]))
    st.plotly_chart(loss_contour_figure(surface, [path]))
    st.plotly_chart(loss_surface_figure(surface, [path]))
    st.plotly_chart(interpolation_figure(Interpolation(grid, grid ** 2, 512)))


def test_figures_render_in_apptest():
    app = AppTest.from_function(render_landscape_figures).run(timeout=60)
    assert not app.exception
    charts = app.get("plotly_chart")
    assert len(charts) == 3
    assert all("fixed subset of 512 examples" in chart.proto.spec for chart in charts)
