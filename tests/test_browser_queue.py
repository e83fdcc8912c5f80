"""A class on one server, in headless Chromium: with one job slot, a second student's run waits in
the queue with its place shown, starts by itself when the first one stops; a reload after a server
restart says the run is gone."""

from __future__ import annotations

import pytest

from dlbuilder.presets import PRESETS
from dlbuilder.share import encode_document
from tests.browser import screenshot, served_app

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def one_slot_url():
    with served_app(env={"DLBUILDER_MAX_JOBS": "1"}) as url:
        yield url


def open_and_start(browser, url: str):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000  # runs until stopped
    page.goto(f"{url}/train?g={encode_document(document)}")
    page.get_by_role("button", name="▶ Start").click(timeout=120_000)
    return context, page


def test_a_second_student_waits_in_the_queue_then_starts(browser, one_slot_url):
    first_context, first = open_and_start(browser, one_slot_url)
    first.locator(".st-key-dlb_loss .js-plotly-plot").first.wait_for(timeout=120_000)
    second_context, second = open_and_start(browser, one_slot_url)
    try:
        second.get_by_text("yours is next", exact=False).first.wait_for(timeout=60_000)
        assert second.get_by_role("button", name="⏹ Stop").is_enabled()
        screenshot(second, "queue_waiting")
        first.get_by_role("button", name="⏹ Stop").click()
        # the waiting run starts by itself: its loss chart appears without a click
        second.locator(".st-key-dlb_loss .js-plotly-plot").first.wait_for(timeout=120_000)
        assert second.get_by_text("Queued", exact=False).count() == 0
        second.get_by_role("button", name="⏹ Stop").click()
        second.get_by_text("Stopped").first.wait_for(timeout=60_000)
    finally:
        first_context.close()
        second_context.close()


def test_a_reload_after_a_server_restart_says_the_run_is_gone(page, one_slot_url):
    document = PRESETS["playground"].load()
    page.goto(f"{one_slot_url}/train?g={encode_document(document)}&run=0badc0de.3")
    page.get_by_text("This server has restarted since your run started", exact=False).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="▶ Start").wait_for(timeout=60_000)  # the setup came back from the link
    assert "run=" not in page.url
