"""The Build page in headless Chromium: click, edit, connect by dragging, share and reopen."""

import pytest

from tests.browser import screenshot

pytestmark = pytest.mark.browser
CANVAS = "iframe[title='streamlit_flow.streamlit_flow']"


def open_build(page, url: str):
    page.goto(url)
    page.get_by_text("Add a layer").first.wait_for(timeout=60_000)
    canvas = page.frame_locator(CANVAS)
    canvas.locator(".react-flow__node").first.wait_for(timeout=120_000)
    return canvas


def node(canvas, node_id: str):
    return canvas.get_by_test_id(f"rf__node-{node_id}")


def drag(page, canvas, source: str, target: str) -> None:
    start = canvas.locator(f'[data-id="{source}-null-source"]').bounding_box()
    end = canvas.locator(f'[data-id="{target}-null-target"]').bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()


def test_edit_add_connect_and_share(page, app_url, browser):
    canvas = open_build(page, f"{app_url}/build")
    assert "(4,)" in node(canvas, "dense1").inner_text()

    node(canvas, "dense1").click()  # select: the inspector opens
    page.get_by_text("dense1 · Dense").first.wait_for(timeout=60_000)
    units = page.get_by_label("units", exact=True).and_(page.get_by_role("spinbutton"))
    units.fill("6")
    units.press("Enter")
    node(canvas, "dense1").get_by_text("(6,)").wait_for(timeout=60_000)  # the canvas label follows

    page.get_by_text("Regularisation", exact=True).click()  # open the palette group
    page.get_by_role("button", name="Dropout").click()  # inserted after dense1, wired in
    node(canvas, "dropout1").wait_for(timeout=60_000)
    page.get_by_text("The network is valid: 5 layers").first.wait_for(timeout=60_000)

    node(canvas, "dense2").click(button="right")  # the canvas's own menu deletes a node...
    canvas.get_by_text("Delete Node").click()
    page.get_by_text("The network is valid: 4 layers").first.wait_for(timeout=60_000)  # ...and bridges it
    assert node(canvas, "dense2").count() == 0

    page.wait_for_timeout(800)
    canvas.get_by_test_id("rf__edge-dropout1->output").click(button="right")  # cut the bridge by hand
    canvas.get_by_text("Delete Edge").click()
    page.get_by_text("problem(s) to fix").first.wait_for(timeout=60_000)
    screenshot(page, "build_broken")

    page.wait_for_timeout(800)
    drag(page, canvas, "dropout1", "output")  # connect by dragging between handles
    page.get_by_text("The network is valid: 4 layers").first.wait_for(timeout=60_000)
    assert "(1,)" in node(canvas, "output").inner_text()
    screenshot(page, "build_edited")

    shared = page.url
    assert "?g=1." in shared
    from urllib.parse import parse_qs, urlparse

    from dlbuilder.share import decode_document
    linked = decode_document(parse_qs(urlparse(shared).query)["g"][0])
    assert [n.id for n in linked.nodes] == ["input", "dense1", "output", "dropout1"], [n.id for n in linked.nodes]
    fresh = browser.new_context(viewport={"width": 1500, "height": 1000}).new_page()
    try:
        canvas2 = open_build(fresh, shared)
        screenshot(fresh, "build_reopened")
        fresh.get_by_text("Opened the network from the shared link").first.wait_for(timeout=60_000)
        fresh.get_by_text("The network is valid: 4 layers").first.wait_for(timeout=60_000)
        for node_id in ("input", "dense1", "dropout1", "output"):
            node(canvas2, node_id).wait_for(timeout=60_000)
        assert node(canvas2, "dense2").count() == 0
        assert "(6,)" in node(canvas2, "dense1").inner_text()
        screenshot(fresh, "build_reopened")
    finally:
        fresh.context.close()


def test_a_small_cnn_by_clicking(page, app_url):
    open_build(page, f"{app_url}/build")
    page.get_by_label("Dataset (sets input and output sizes)").click()
    page.get_by_role("option", name="Digits 8x8 (images)").click()
    node(page.frame_locator(CANVAS), "input").get_by_text("(1, 8, 8)").wait_for(timeout=60_000)
    page.get_by_role("button", name="New network for it").click()
    canvas = page.frame_locator(CANVAS)
    node(canvas, "conv1").wait_for(timeout=60_000)
    page.get_by_text("The network is valid").first.wait_for(timeout=60_000)
    assert "(8, 8, 8)" in node(canvas, "conv1").inner_text()
    assert "(8, 4, 4)" in node(canvas, "pool1").inner_text()
    screenshot(page, "build_cnn")
