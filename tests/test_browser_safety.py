"""In Chromium: text from a share link, a CSV header and an upload's file name stays text.

An image tag in any of them must not make the viewer's browser fetch an outside address, and a
link in them must not become a clickable <a>, on the page or inside the canvas's frame.
"""

import json

import numpy as np
import pytest

from dlbuilder.editing import network_for_dataset, set_dataset
from dlbuilder.presets import PRESETS
from tests.browser import screenshot
from tests.test_page_safety import HOSTILE, raw_link

pytestmark = pytest.mark.browser
OUTSIDE = "example.invalid"
LINK = "[click me](http://example.invalid/page)"


def outside_elements(page) -> list[str]:
    """Every <img> or <a> pointing at the outside address, in the page and in its frames."""
    found = []
    for frame in page.frames:
        # [*|href] also matches SVG's xlink:href (Plotly draws links in charts that way)
        selector = f"img[src*='{OUTSIDE}'], a[href*='{OUTSIDE}'], a[*|href*='{OUTSIDE}'], image[*|href*='{OUTSIDE}']"
        for element in frame.query_selector_all(selector):
            found.append(f"{frame.url[:60]}: " + element.evaluate("e => e.outerHTML"))
    return found


def wait_for_text(page, text: str, timeout: float = 60_000) -> None:
    """Wait until the page shows `text` (ignoring the invisible word joiners that break autolinks)."""
    page.wait_for_function("t => document.body.innerText.replaceAll('\\u2060', '').includes(t)",
                           arg=text, timeout=timeout)


def watch_requests(page) -> list[str]:
    requests = []
    page.on("request", lambda request: requests.append(request.url) if OUTSIDE in request.url else None)
    return requests


def hostile_csv() -> bytes:
    rng = np.random.default_rng(0)
    plotly_link = '"<a href=""http://example.invalid/plotly"">p</a>"'  # Plotly's own tags, in a chart
    lines = [f"{HOSTILE},{LINK},{plotly_link},label"] + [f"{x:.3f},{y:.3f},{x * y:.3f},{int(x > y)}"
                                                        for x, y in rng.normal(size=(60, 2))]
    return "\n".join(lines).encode()


def test_a_share_link_with_an_image_tag_fetches_nothing(page, app_url):
    document = PRESETS["playground"].load()
    document.name, document.description = f"Net {HOSTILE} {LINK}", f"{LINK} {HOSTILE}"
    link = raw_link(document, ('"units":4,"activation":"tanh"', f'"units":4,"activation":{json.dumps(HOSTILE)}'))
    requests = watch_requests(page)
    page.goto(f"{app_url}/build?g={link}")
    page.get_by_text("problem(s) to fix").first.wait_for(timeout=120_000)
    page.frame_locator("iframe[title='streamlit_flow.streamlit_flow']").locator(
        ".react-flow__node").first.wait_for(timeout=120_000)
    page.get_by_text("PyTorch code", exact=True).click()  # the document's name is in the code
    page.wait_for_timeout(1500)
    screenshot(page, "safety_share_link")
    wait_for_text(page, f"got '{HOSTILE}'")  # shown, literally, in the problems box
    assert outside_elements(page) == []
    assert requests == []


def test_a_csv_header_and_file_name_with_an_image_tag_fetch_nothing(page, app_url):
    link = raw_link(set_dataset(network_for_dataset("circle"), "csv"))
    requests = watch_requests(page)
    page.goto(f"{app_url}/train?g={link}")
    page.get_by_text("Your CSV file").first.wait_for(timeout=120_000)
    page.locator("input[type=file]").first.set_input_files(
        files=[{"name": f"{HOSTILE}.csv", "mimeType": "text/csv", "buffer": hostile_csv()}])
    page.get_by_text("Using your uploaded file").first.wait_for(timeout=120_000)
    wait_for_text(page, f"Uploaded {HOSTILE}.csv")
    page.wait_for_timeout(1500)
    screenshot(page, "safety_csv_upload")
    wait_for_text(page, f"({HOSTILE}, {LINK}, <a href")  # the column names, literally
    assert outside_elements(page) == []
    assert requests == []
