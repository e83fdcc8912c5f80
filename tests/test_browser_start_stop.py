"""Start and Stop in headless Chromium on a server of its own (whose log the test reads)."""

import subprocess
import sys
import time
import urllib.request

import pytest

from tests.browser import CHROMIUM, ROOT, free_port
from tests.networks import long_playground

pytestmark = pytest.mark.browser
CLICK = "(key) => document.querySelector(`.st-key-dlb_${key} button`).click()"
CHART_HAS_DATA = ("() => { const p = document.querySelector('.st-key-dlb_loss .js-plotly-plot');"
                  " return !!(p && p._fullData && p._fullData.some(t => t.x && t.x.length)); }")


@pytest.fixture(scope="module")
def logged_app(tmp_path_factory):
    """A Streamlit server whose log goes to a file: (url, log path)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium'); browser tests skipped")
    log = tmp_path_factory.mktemp("server") / "server.log"
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
    with log.open("w") as stderr:
        server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                break
        except OSError:
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}", log
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()


def test_start_trains_stop_stops_and_workers_leave_the_log_clean(page, logged_app):
    from dlbuilder.share import encode_document

    url, log = logged_app
    page.goto(f"{url}/train?g={encode_document(long_playground())}")
    page.get_by_role("button", name="▶ Start").wait_for(timeout=120_000)
    page.evaluate(CLICK, "start")
    page.wait_for_function(CHART_HAS_DATA, timeout=120_000)  # a chart before the first epoch has ended
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("running", exact=True).wait_for(timeout=60_000)
    page.evaluate(CLICK, "stop")
    page.get_by_text("Stopped").first.wait_for(timeout=60_000)
    sidebar.get_by_text("stopped", exact=True).wait_for(timeout=60_000)
    assert page.get_by_role("button", name="▶ Start").is_enabled()
    # A worker process that ran app.py again logged "missing ScriptRunContext" ~20 times per start.
    assert "missing ScriptRunContext" not in log.read_text()
