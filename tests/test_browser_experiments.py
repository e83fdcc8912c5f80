"""The Experiments page in headless Chromium: a 16-run learning-rate x width sweep, read off its heat map."""

import math

import pytest

from dlbuilder.presets import PRESETS
from dlbuilder.share import encode_document
from tests.browser import screenshot

pytestmark = pytest.mark.browser
# The heat map's cells as drawn (rows: widths, columns: learning rates), its axis labels and title
HEAT_MAP = ("() => { const p = document.querySelector('.st-key-dlb_sweep_map .js-plotly-plot');"
            " if (!p || !p.data) return null; const t = p.data[0];"
            " return {z: t.z, x: t.x, y: t.y, title: p.layout.title.text}; }")
# The highlighted run's name in each overlay chart on the page (under heavy load a stale copy from the last
# poll may linger for a while beside the final one)
HIGHLIGHTED = ("() => Array.from(document.querySelectorAll('.st-key-dlb_sweep_overlay .js-plotly-plot'))"
               ".map(p => { const t = p.data ? p.data.find(t => t.name != 'other runs') : null;"
               " return t ? t.name : null; })")
SETTLED = "document.querySelectorAll('.st-key-dlb_sweep_map').length == 1"  # no copy kept from the last poll
FILLED = f"(() => {{ const m = ({HEAT_MAP})(); return m !== null && m.z.flat().every(v => v !== null); }})()"


def test_a_learning_rate_by_width_sweep_fills_its_heat_map(page, app_url):
    document = PRESETS["playground"].load()  # circle, 2-4-2-1 tanh, SGD
    document.training["epochs"] = 100
    page.goto(f"{app_url}/experiments?g={encode_document(document)}")
    start = page.locator(".st-key-dlb_sweep_start button").first
    start.wait_for(timeout=60_000)
    rates = page.locator(".st-key-dlb_sweep_values1_learning_rate_current input")
    rates.fill("0.003, 0.01, 0.03, 0.1")
    rates.press("Enter")
    widths = page.locator(".st-key-dlb_sweep_values2_width_current input")
    widths.fill("2, 4, 8, 16")
    widths.press("Enter")
    page.get_by_text("16 runs of 100 epochs: 16 trained together in 4 vectorised groups", exact=False).first \
        .wait_for(timeout=60_000)
    screenshot(page, "experiments_form")
    start.click()
    page.get_by_text("Sweep 1:", exact=False).first.wait_for(timeout=60_000)  # the progress bar
    page.wait_for_function(FILLED, timeout=180_000)
    page.get_by_role("button", name="Cancel").wait_for(state="detached", timeout=60_000)  # the sweep has ended
    page.wait_for_function(SETTLED, timeout=60_000)
    heat = page.evaluate(HEAT_MAP)
    assert heat["x"] == ["0.003", "0.01", "0.03", "0.1"] and heat["y"] == ["2", "4", "8", "16"]
    assert heat["title"].replace("<b>", "").replace("</b>", "") == "final validation loss"
    cells = [value for row in heat["z"] for value in row]
    assert len(cells) == 16 and all(math.isfinite(v) and v > 0 for v in cells)
    # what a class reads off it: 100 epochs at lr 0.003 barely move a 2-2 net; lr 0.1 on 16-16 learns the circle
    assert heat["z"][3][3] < 0.5 * heat["z"][0][0]
    page.locator(".st-key-dlb_sweep_map").first.scroll_into_view_if_needed()
    screenshot(page, "experiments_heat_map")
    # once done, the run with the lowest final validation loss is highlighted among the others
    best = min(range(16), key=lambda i: cells[i])
    name = f"lr {heat['x'][best % 4]}, width {heat['y'][best // 4]}: validation loss"
    page.wait_for_function(f"({HIGHLIGHTED})().includes({name!r})", timeout=120_000)  # busy CI machines are slow
    page.locator(".st-key-dlb_sweep_overlay").first.scroll_into_view_if_needed()
    screenshot(page, "experiments_curves")
    page.get_by_text("Compare two runs").first.scroll_into_view_if_needed()
    page.locator(".st-key-dlb_sweep_compare .js-plotly-plot").first.wait_for(timeout=60_000)
    screenshot(page, "experiments_compare")
