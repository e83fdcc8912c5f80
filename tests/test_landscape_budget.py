"""Loss landscapes on a time budget: a slow network's first picture is coarser, and the refinement in
the background stops where the next level would not fit, with a button that refines the rest."""

import time

import numpy as np
import pytest
import torch
from torch import nn

from dlbuilder.inspection.grid import NESTED_SIZES, affordable_sizes, progressive_surface
from dlbuilder.inspection.landscape import LossProbe, flat_weights, random_directions
from dlbuilder.ui import background, inspect_landscape, inspect_panels
from tests.test_inspect_page import charts, finished_job, inspect_page, settled, values

SLEEP_PER_POINT = 0.001  # the slowed probe's cost per grid point, on top of its own (tiny) forward pass


def slowed_probe() -> LossProbe:
    """A tiny MLP's probe whose scoring takes at least SLEEP_PER_POINT per point: a known rate."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))
    probe = LossProbe(model, torch.randn(32, 3), torch.randint(0, 2, (32,)), nn.CrossEntropyLoss(),
                      "cross_entropy", batched=False)
    original = probe.combination

    def slowed(origin, directions, coefficients):
        time.sleep(SLEEP_PER_POINT * len(coefficients))
        return original(origin, directions, coefficients)

    probe.combination = slowed
    return probe


def test_the_affordable_sizes_are_the_leading_ones_that_fit_together():
    assert affordable_sizes(NESTED_SIZES, 6, 0.01, 1.0) == (11,)  # 85 new points 0.85 s; 21 x 21 adds 3.2 s
    assert affordable_sizes(NESTED_SIZES, 6, 0.01, 0.5) == ()
    assert affordable_sizes(NESTED_SIZES, 11, 0.001, 100) == (21, 41)
    assert affordable_sizes(NESTED_SIZES, 41, 0.001, 100) == ()


def test_a_budget_stops_the_refinement_before_a_level_that_would_not_fit():
    probe = slowed_probe()
    center, directions = flat_weights(probe.model), random_directions(probe.model)
    # 11 x 11 takes ~0.12 s and 21 x 21 ~0.32 s more; 41 x 41 would add ~1.24 s: over 1.2 s in all
    levels = list(progressive_surface(probe, center, directions, budget=1.2))
    assert [len(s.alphas) for s in levels] == [11, 21]
    assert [s.final for s in levels] == [False, True]  # the budget's last level says nothing more comes
    assert all(s.point_seconds >= SLEEP_PER_POINT for s in levels)
    assert levels[-1].seconds < 1.2
    unlimited = list(progressive_surface(probe, center, directions))
    assert [len(s.alphas) for s in unlimited] == [11, 21, 41] and unlimited[-1].final
    np.testing.assert_array_equal(unlimited[1].loss, levels[1].loss)  # the same points, whatever the budget


def test_a_six_point_grid_nests_in_every_finer_one():
    probe = slowed_probe()
    center, directions = flat_weights(probe.model), random_directions(probe.model)
    coarse = list(progressive_surface(probe, center, directions, resolutions=(6,)))[-1]
    refined = list(progressive_surface(probe, center, directions, resolutions=(11, 21, 41), known=coarse))
    np.testing.assert_array_equal(refined[-1].loss[::8, ::8], coarse.loss)
    assert probe.point_seconds() > 0 and probe.point_seconds() == probe.copy().point_seconds()  # measured once


def test_over_the_budget_the_page_offers_the_refinement_with_its_time(monkeypatch):
    monkeypatch.setattr(inspect_landscape, "REFINE_SECONDS", 0)  # not even 21 x 21 fits
    app = inspect_page(finished_job("playground"))
    assert not app.exception
    assert "plane" not in app.session_state[background.TASKS]  # nothing refines unasked
    assert len(values(charts(app)["dlb_inspect_plane_contour"]["data"][0]["x"])) == 11
    offer = next(c.value for c in app.caption if c.value.startswith("Refined as far as 11 × 11"))
    assert "41 × 41 would take about" in offer and "of one CPU thread" in offer
    app = settled(app.button(key="dlb_inspect_refine_plane").click().run())
    assert not app.exception
    assert len(values(charts(app)["dlb_inspect_plane_contour"]["data"][0]["x"])) == 41
    assert not any(c.value.startswith("Refined as far as") for c in app.caption)
    assert "dlb_inspect_refine_plane" not in [button.key for button in app.button]  # nothing left to refine


def test_a_network_slow_to_score_is_drawn_on_a_coarser_grid_first(monkeypatch):
    monkeypatch.setattr(inspect_landscape, "COARSE_SECONDS", 0)  # as if 121 evaluations took too long
    app = inspect_page(finished_job("playground"))
    assert not app.exception
    assert len(app.session_state[inspect_panels.RESULTS]["plane_coarse"][1].alphas) == 6  # drawn at once
    assert len(values(charts(app)["dlb_inspect_interpolation"]["data"][0]["x"])) == 21  # the line, coarser too
    assert app.session_state[background.TASKS]["plane"][1].label == "Refining towards 41 × 41"
    app = settled(app)
    assert len(values(charts(app)["dlb_inspect_plane_contour"]["data"][0]["x"])) == 41  # cheap: refined in full


@pytest.mark.parametrize("size", [6, 11])
def test_the_coarse_size_follows_the_measured_cost(monkeypatch, size):
    probe = slowed_probe()
    monkeypatch.setattr(probe, "point_seconds", lambda: 1.0 if size == 6 else 1e-5)
    assert len(inspect_landscape._coarse_surface(probe).alphas) == size
