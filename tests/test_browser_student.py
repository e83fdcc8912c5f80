"""What a student sees in Chromium: legible canvas text, deletes and inserts that stay wired, captions apart."""

import json

import numpy as np
import plotly.io as pio
import pytest
from plotly.offline import get_plotlyjs

from dlbuilder.figures import image_grid_figure
from dlbuilder.presets import PRESETS
from dlbuilder.probes import Sample
from dlbuilder.share import encode_document
from tests.browser import screenshot
from tests.test_browser_build import CANVAS, node, open_build

pytestmark = pytest.mark.browser
PlaywrightTimeout = pytest.importorskip("playwright.sync_api").TimeoutError
MIN_TEXT_PX = 11  # node text on the screen, font size x zoom; it was ~7 px for LeNet before


def load_preset(page, name: str) -> None:
    page.get_by_role("combobox", name="Start from a preset").click()
    page.get_by_role("option", name=PRESETS[name].title).click()
    page.get_by_text(f"Loaded the preset '{PRESETS[name].title}'").first.wait_for(timeout=30_000)
    # The new canvas is a new component: on a busy machine the old iframe lingers for a moment beside it
    page.wait_for_function(f"document.querySelectorAll({CANVAS!r}).length === 1", timeout=60_000)


def canvas_text(page) -> tuple[float, list[str]]:
    """(smallest node text on screen in px, ids of nodes not wholly inside the canvas)."""
    frame = page.frame_locator(CANVAS)
    page.wait_for_timeout(1500)  # fit-view settles after the new graph arrives
    scale = frame.locator(".react-flow__viewport").evaluate("e => new DOMMatrix(getComputedStyle(e).transform).a")
    nodes = frame.locator(".react-flow__node").evaluate_all("""els => els.map(e => {
        const r = e.getBoundingClientRect(), p = e.closest('.react-flow').getBoundingClientRect();
        return [e.dataset.id, parseFloat(getComputedStyle(e).fontSize),
                r.left >= p.left - 1 && r.right <= p.right + 1 && r.top >= p.top - 1 && r.bottom <= p.bottom + 1];
    })""")
    return min(size for _, size, _ in nodes) * scale, [node_id for node_id, _, inside in nodes if not inside]


@pytest.mark.parametrize("viewport", [(1500, 1000), (1280, 800)])
def test_long_presets_are_legible_on_the_canvas(browser, app_url, viewport):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    try:
        for name in ("lenet", "residual"):
            open_build(page, f"{app_url}/build")  # a fresh session for each: one preset choice per page
            load_preset(page, name)
            node(page.frame_locator(CANVAS), "output").wait_for(timeout=60_000)
            smallest, outside = canvas_text(page)
            screenshot(page, f"student_canvas_{name}_{viewport[0]}")
            assert smallest >= MIN_TEXT_PX, f"{name}: node text is {smallest:.1f} px on screen"
            assert outside == [], f"{name}: {outside} drawn outside the canvas"
    finally:
        context.close()


def test_deleting_middle_layers_keeps_the_network_connected(page, app_url):
    canvas = open_build(page, f"{app_url}/build")
    node(canvas, "dense1").click(button="right")  # the canvas's own menu
    canvas.get_by_text("Delete Node").click()
    page.get_by_text("The network is valid: 3 layers").first.wait_for(timeout=60_000)
    assert node(canvas, "dense1").count() == 0
    canvas.get_by_test_id("rf__edge-input->dense2").wait_for(timeout=60_000)
    node(canvas, "dense2").click()  # and with the inspector's button
    page.get_by_role("button", name="Delete this layer").click()
    page.get_by_text("The network is valid: 2 layers").first.wait_for(timeout=60_000)
    canvas.get_by_test_id("rf__edge-input->output").wait_for(timeout=60_000)
    screenshot(page, "student_deleted")
    assert page.get_by_text("problem(s) to fix").count() == 0


def test_blank_start_and_adding_before_the_output(page, app_url):
    canvas = open_build(page, f"{app_url}/build")
    page.get_by_role("button", name="Blank: Input → Output").click()
    page.get_by_text("The network is valid: 2 layers").first.wait_for(timeout=60_000)
    assert "1 unit" in node(canvas, "output").inner_text()  # two classes, one score: shown, not hidden
    node(canvas, "output").click()
    page.get_by_text("New layers go before the output, between input and output").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Dense", exact=True).click()
    node(canvas, "dense1").wait_for(timeout=60_000)
    page.get_by_text("The network is valid: 3 layers").first.wait_for(timeout=60_000)
    canvas.get_by_test_id("rf__edge-input->dense1").wait_for(timeout=60_000)
    canvas.get_by_test_id("rf__edge-dense1->output").wait_for(timeout=60_000)
    screenshot(page, "student_blank_then_dense")


def overlaps(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
        a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]


@pytest.mark.parametrize("names", [tuple("0123456789"), ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")])
def test_test_image_captions_stay_apart(page, names):
    """The live view's grid, three in a row on a 1280-px screen: no caption touches another or an image."""
    samples = [Sample(np.random.default_rng(i).random((8, 8)), true=i % 10, predicted=(3 * i) % 10,
                      probability=0.62) for i in range(9)]
    spec = json.loads(pio.to_json(image_grid_figure(samples, names, columns=3).to_dict(), validate=False))
    spec["layout"].pop("template", None)
    page.set_content(f"<div id='f' style='width:285px'></div><script>{get_plotlyjs()}</script>"
                     f"<script>Plotly.newPlot('f', {json.dumps(spec['data'])}, {json.dumps(spec['layout'])})</script>")
    page.locator(".annotation-text").first.wait_for(timeout=60_000)
    captions = [box for box in (e.bounding_box() for e in page.locator(".annotation-text").all()) if box]
    images = [box for box in (e.bounding_box() for e in page.locator(".hm image").all()) if box]
    assert len(captions) == 9 and len(images) == 9
    screenshot(page, f"student_image_captions_{'fashion' if len(names[0]) > 1 else 'digits'}")
    for index, caption in enumerate(captions):
        assert not any(overlaps(caption, other) for other in captions[index + 1:]), caption
        assert not any(overlaps(caption, image) for image in images), caption


def test_autoencoder_live_view_shows_reconstructions(page, app_url):
    document = PRESETS["autoencoder"].load()
    document.training["epochs"] = 3
    page.goto(f"{app_url}/train?g={encode_document(document)}")
    page.get_by_role("button", name="▶ Start").wait_for(timeout=60_000)
    page.get_by_role("button", name="▶ Start").click()
    page.get_by_text("what the network rebuilt").first.wait_for(timeout=180_000)
    view = page.locator(".st-key-dlb_view_0 .js-plotly-plot").first
    view.wait_for(timeout=60_000)
    page.wait_for_function("() => document.querySelectorAll('.st-key-dlb_view_0 .hm image').length >= 12",
                           timeout=60_000)
    captions = view.locator(".annotation-text").evaluate_all("els => els.map(e => e.textContent)")
    assert captions[0] == "input" and captions[1].startswith("rebuilt"), captions[:2]
    boxes = [box for box in (e.bounding_box() for e in view.locator(".annotation-text").all()) if box]
    assert not any(overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])  # in the narrow column
    view.scroll_into_view_if_needed()
    screenshot(page, "student_autoencoder_live")
