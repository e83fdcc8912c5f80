"""Lessons in headless Chromium, in projector mode: one click opens a lesson, its first step trains,
Next step retrains with noise, and projector mode survives moving between pages."""

import pytest

from tests.browser import screenshot

pytestmark = pytest.mark.browser
# The loss chart's traces as "points:last x" each: changes whenever the chart is redrawn with new data.
TRAIN_POINTS = ("() => { const p = document.querySelector('.st-key-dlb_loss .js-plotly-plot');"
                " return p && p._fullData ? p._fullData.map(t => t.x && t.x.length"
                " ? t.x.length + ':' + t.x[t.x.length - 1] : 0).join(',') : ''; }")
# The loss chart's tick label size in pixels: 16 as designed, larger in projector mode.
TICK_SIZE = ("() => { const t = document.querySelector('.st-key-dlb_loss .xtick text');"
             " return t ? parseFloat(t.style.fontSize) : 0; }")


def wait_until_trained(page, curves: int, epochs: int = 300) -> None:
    """Wait until the loss chart draws `curves` curves through every epoch (the step really trained here)."""
    page.locator(".st-key-dlb_loss .js-plotly-plot").first.wait_for(timeout=120_000)
    page.wait_for_function(f"() => ({TRAIN_POINTS})().split(',').filter(t => t === '{epochs}:{epochs}').length"
                           f" >= {curves}", timeout=180_000)


def test_a_lesson_opens_in_one_click_and_trains_in_projector_mode(page, app_url):
    page.goto(f"{app_url}/lessons?projector=1")
    open_button = page.locator(".st-key-dlb_lesson_open_overfitting_early_stopping button")
    open_button.wait_for(timeout=60_000)
    screenshot(page, "lessons_projector_list")
    open_button.click()
    page.get_by_text("step 1 of 4", exact=False).first.wait_for(timeout=60_000)
    page.wait_for_function("() => location.search.includes('lesson=overfitting_early_stopping')"
                           " && location.search.includes('projector=1')", timeout=30_000)  # set as the run ends
    assert "/train" in page.url
    wait_until_trained(page, curves=2)  # training and validation loss
    assert page.evaluate(TICK_SIZE) >= 22  # 16 px ticks scaled for the back of the room
    labels = page.locator('[data-testid="stWidgetLabel"]').all_inner_texts()
    assert "noise" in labels and "learning rate" not in labels  # hidden: the lesson does not use it
    page.wait_for_timeout(1500)
    screenshot(page, "lessons_projector_step1")

    page.get_by_role("button", name="Next step ▶").click()
    page.get_by_text("step 2 of 4", exact=False).first.wait_for(timeout=60_000)
    wait_until_trained(page, curves=4)  # the noisy run's two curves, and the first run's, dashed behind
    page.wait_for_timeout(3000)
    screenshot(page, "lessons_projector_step2")
    page.locator(".st-key-dlb_loss").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    screenshot(page, "lessons_projector_step2_charts")

    page.get_by_role("link", name="Inspect").first.click()
    page.get_by_text("step 2 of 4", exact=False).first.wait_for(timeout=60_000)
    page.wait_for_function("() => location.search.includes('projector=1')", timeout=30_000)
    assert page.locator(".st-key-dlb_projector input").is_checked()
    screenshot(page, "lessons_projector_inspect")
