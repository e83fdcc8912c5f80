"""Sequence views in headless Chromium: a tagger's live predictions on the Train page, its attention
map redrawn while it trains, then the Sequences tab's charts and a typed sentence."""

import pytest

from dlbuilder.share import encode_document
from tests.browser import screenshot
from tests.test_sequence_views import tagger_document

pytestmark = pytest.mark.browser
# A chart's first trace's z values as text: changes whenever the chart is redrawn with other numbers.
Z_VALUES = ("key => { const p = document.querySelector('.st-key-' + key + ' .js-plotly-plot');"
            " return p && p._fullData && p._fullData[0] ? JSON.stringify(p._fullData[0].z) : ''; }")


# Streamlit shows its status widget ("Stop") only while the script runs.
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"


def settle(page) -> None:
    """Wait until the page's run has finished (a click during a run would interrupt it)."""
    page.wait_for_timeout(500)
    page.wait_for_function(IDLE, timeout=180_000)


def chart(page, key: str):
    plot = page.locator(f".st-key-{key} .js-plotly-plot").first
    plot.wait_for(timeout=120_000)
    return plot


def drawn(page, key: str, words: str) -> None:
    """Wait until the element's text shows `words` (a chart's text is drawn a moment after its element)."""
    page.wait_for_function("([key, words]) => { const e = document.querySelector('.st-key-' + key);"
                           " return e !== null && e.innerText.includes(words); }", arg=[key, words], timeout=60_000)


def show(page, key: str) -> None:
    """Scroll a chart into view (by its container: a live chart's plot element is redrawn meanwhile)."""
    chart(page, key)
    page.evaluate("key => document.querySelector('.st-key-' + key).scrollIntoView()", key)
    page.wait_for_timeout(500)


def test_tagger_attention_follows_training_and_tags_typed_text(page, app_url):
    document = tagger_document(epochs=150, samples=800)  # long enough to watch, short enough to finish
    page.goto(f"{app_url}/train?g={encode_document(document)}")
    page.get_by_role("button", name="▶ Start").wait_for(timeout=60_000)
    page.get_by_role("button", name="▶ Start").click()
    chart(page, "dlb_sequence_predictions")  # the live table of test sentences
    # (its text is drawn a moment after the plot's element appears: wait for it)
    drawn(page, "dlb_sequence_predictions", "predicted tags")
    screenshot(page, "train_sequence_predictions")

    page.get_by_role("link", name="Inspect").first.click()  # the same session: the job comes along
    page.get_by_role("tab", name="Sequences").click()
    show(page, "dlb_seq_attention_0")
    if page.get_by_text("Follow training", exact=False).count():  # still training: the map is redrawn
        first = page.evaluate(Z_VALUES, "dlb_seq_attention_0")
        page.wait_for_function(f"({Z_VALUES})('dlb_seq_attention_0') != {first!r}", timeout=120_000)
    screenshot(page, "inspect_sequences_attention")

    page.get_by_text("Training: finished", exact=False).first.wait_for(timeout=600_000)
    settle(page)  # the page redraws itself once with the final weights
    page.get_by_role("tab", name="Sequences").click()
    for key in ("dlb_seq_predictions", "dlb_seq_hidden", "dlb_seq_gradients", "dlb_seq_embedding"):
        chart(page, key)
    show(page, "dlb_seq_hidden")
    screenshot(page, "inspect_sequences_hidden")
    box = page.locator(".st-key-dlb_seq_text input")
    box.fill("leave Nairobi on friday")
    box.press("Enter")
    settle(page)
    unknown = page.get_by_text("Not in the vocabulary, read as <unk>", exact=False).first
    unknown.wait_for(timeout=60_000)
    assert "nairobi" in unknown.inner_text()
    drawn(page, "dlb_seq_typed", "<unk>")
    typed = page.locator(".st-key-dlb_seq_typed").inner_text()
    assert "<unk>" in typed and "origin" in typed, typed  # an unknown city after "leave" is where you leave
    show(page, "dlb_seq_typed_attention_0")
    screenshot(page, "inspect_sequences_typed")
    box.fill("<b>bold</b> " * 20)  # more words than the model reads, with markup
    box.press("Enter")
    settle(page)
    page.get_by_text("the model reads at most", exact=False).first.wait_for(timeout=60_000)
    assert page.locator("b", has_text="bold").count() == 0  # shown as text, never as markup
