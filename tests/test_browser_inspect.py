"""The Inspect page in headless Chromium: the linear surface, then a trained LeNet's landscape and filters."""

import pytest

from dlbuilder.presets import PRESETS
from dlbuilder.share import encode_document
from tests.browser import screenshot

pytestmark = pytest.mark.browser
# How many points a chart's first trace draws along x (0 while the chart is not drawn yet).
POINTS = ("key => { const p = document.querySelector('.st-key-' + key + ' .js-plotly-plot');"
          " return p && p._fullData && p._fullData[0].x ? p._fullData[0].x.length : 0; }")


def chart(page, key: str):
    plot = page.locator(f".st-key-{key} .js-plotly-plot").first
    plot.wait_for(timeout=120_000)
    plot.scroll_into_view_if_needed()
    return plot


def test_linear_surface_without_a_job(page, app_url):
    page.goto(f"{app_url}/inspect")
    chart(page, "dlb_surface_contour")
    page.get_by_text("No network has been trained", exact=False).first.wait_for(timeout=60_000)
    page.get_by_text("too large", exact=False).first.click()
    page.get_by_text("diverged at step", exact=False).first.wait_for(timeout=60_000)
    chart(page, "dlb_surface_contour")
    screenshot(page, "inspect_linear_surface")


def test_trained_lenet_shows_its_landscape_and_filters(page, app_url):
    document = PRESETS["lenet"].load()
    document.training["epochs"] = 3
    page.goto(f"{app_url}/train?g={encode_document(document)}")
    page.get_by_role("button", name="▶ Start").wait_for(timeout=60_000)
    page.get_by_role("button", name="▶ Start").click()
    page.get_by_text("Finished", exact=False).first.wait_for(timeout=180_000)
    page.get_by_role("link", name="Inspect").first.click()  # the same session: the job comes along
    page.get_by_role("tab", name="Loss landscape").click()
    chart(page, "dlb_inspect_plane_contour")
    assert page.evaluate(POINTS, "dlb_inspect_plane_contour") in (11, 21, 41)  # coarse first
    # refined in place by a background task while the page stays usable
    page.wait_for_function(f"({POINTS})('dlb_inspect_plane_contour') == 41", timeout=180_000)
    screenshot(page, "inspect_landscape")
    chart(page, "dlb_inspect_path")
    screenshot(page, "inspect_training_path")
    page.get_by_role("tab", name="Convolution").click()
    assert chart(page, "dlb_inspect_filters").is_visible()
    screenshot(page, "inspect_filters")
    page.get_by_role("button", name="Grow images").click()
    chart(page, "dlb_inspect_maximised")
    screenshot(page, "inspect_maximised")
    chart(page, "dlb_inspect_adversarial")
    screenshot(page, "inspect_adversarial")
    page.get_by_role("tab", name="Weights & gradients").click()
    chart(page, "dlb_inspect_histograms")
    screenshot(page, "inspect_histograms")
    page.get_by_role("button", name="Check gradients").click()
    page.get_by_text("Pass: every layer", exact=False).first.wait_for(timeout=120_000)
    chart(page, "dlb_inspect_gradcheck_figure")
    screenshot(page, "inspect_gradient_check")
