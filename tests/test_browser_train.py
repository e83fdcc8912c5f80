"""The Train page in headless Chromium: the loss chart updates live; a screenshot mid-training."""

import time

import pytest

from dlbuilder.presets import PRESETS
from dlbuilder.share import encode_document
from tests.browser import screenshot

pytestmark = pytest.mark.browser
# The loss chart's traces as "points:last x" each: changes whenever the chart is redrawn with new data.
TRAIN_POINTS = ("() => { const p = document.querySelector('.st-key-dlb_loss .js-plotly-plot');"
                " return p && p._fullData ? p._fullData.map(t => t.x && t.x.length"
                " ? t.x.length + ':' + t.x[t.x.length - 1] : 0).join(',') : ''; }")


def test_loss_chart_updates_live(page, app_url):
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000  # still training when the test presses Stop
    page.goto(f"{app_url}/train?g={encode_document(document)}")
    page.get_by_role("button", name="▶ Start").wait_for(timeout=60_000)
    page.get_by_role("button", name="▶ Start").click()
    page.locator(".st-key-dlb_loss .js-plotly-plot").first.wait_for(timeout=120_000)
    # Behaviour, not speed: the chart must be redrawn with new data several times while the job
    # trains (how often per second is measured by bench/live_loop.py, never asserted here).
    seen = [page.evaluate(TRAIN_POINTS)]
    deadline = time.monotonic() + 90.0
    while len(set(seen)) < 4 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        seen.append(page.evaluate(TRAIN_POINTS))
    assert len(set(seen)) >= 4, f"the loss chart showed only {len(set(seen))} states: {seen[:3]} ... {seen[-3:]}"
    screenshot(page, "train_live")
    page.get_by_role("button", name="⏹ Stop").click()
    page.get_by_text("Stopped").first.wait_for(timeout=60_000)
