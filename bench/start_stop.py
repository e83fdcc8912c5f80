"""Start and Stop as a student sees them: a real Streamlit server and headless Chromium.

For each try a fresh browser session opens the Train page with the Playground preset and measures
  * Start -> first chart: the click until the loss chart shows the new job's first losses;
  * Stop -> "Stopped": the click until the page shows the "Stopped" banner;
  * Start -> page back: the click until the page has redrawn (the Restart button), i.e. how long
    the page stayed busy (greyed) after the click.
It does so (a) with the server otherwise idle and (b) with 8 other jobs training on the same
server: 8 more browser sessions start a job each and then go to the Build page, where the
sidebar's heartbeat keeps their jobs alive without drawing charts. The first try of (a) is the
first Start after the server started (the worker pool still warming). It also samples the
sidebar's status against the page's counters, and counts "missing ScriptRunContext" warnings
in the server log. It prints; it never asserts.

Run from the repo root: .venv/bin/python bench/start_stop.py [--tries 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.share import encode_document  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, free_port  # noqa: E402

OTHER_JOBS = 8
TIMEOUT_MS = 120_000
WARNING = "missing ScriptRunContext"
CLICK = "(key) => document.querySelector(`.st-key-dlb_${key} button`).click()"  # (not Streamlit's own Stop)
CHART_HAS_DATA = ("() => { const p = document.querySelector('.st-key-dlb_loss .js-plotly-plot');"
                  " return !!(p && p._fullData && p._fullData.some(t => t.x && t.x.length)); }")
STOPPED = "() => [...document.querySelectorAll('[data-testid=\"stAlert\"]')].some(a => a.innerText.includes('Stopped'))"
SIDEBAR_AND_COUNTER = ("() => [document.querySelector('[data-testid=\"stSidebar\"]').innerText,"
                       " ([...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                       ".find(m => m.innerText.startsWith('Epoch')) || {innerText: ''}).innerText]")
RESTART = "() => (document.querySelector('.st-key-dlb_start button') || {}).innerText?.includes('Restart')"


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    """`streamlit run app.py` with its log in a file; returns once the server answers."""
    env = {**os.environ, "DLBUILDER_MAX_JOBS": str(OTHER_JOBS + 4), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log_path.open("w"))
    for _ in range(400):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return server
        except OSError:
            time.sleep(0.3)
    server.kill()
    raise RuntimeError(f"streamlit did not start; see {log_path}")


def train_url(base: str) -> str:
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000  # still training when the bench presses Stop
    return f"{base}/train?g={encode_document(document)}"


def one_try(browser, url: str) -> dict[str, float]:
    """Open a fresh session, Start, wait for the chart, train 2 s, Stop; the latencies in seconds."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    try:
        page.goto(url)
        page.get_by_role("button", name="▶ Start").wait_for(timeout=TIMEOUT_MS)
        page.wait_for_timeout(500)
        clicked = time.perf_counter()
        page.evaluate(CLICK, "start")
        page.wait_for_function(RESTART, timeout=TIMEOUT_MS, polling=20)
        back = time.perf_counter() - clicked
        page.wait_for_function(CHART_HAS_DATA, timeout=TIMEOUT_MS, polling=20)
        chart = time.perf_counter() - clicked
        page.wait_for_timeout(2_000)
        clicked = time.perf_counter()
        page.evaluate(CLICK, "stop")
        page.wait_for_function(STOPPED, timeout=TIMEOUT_MS, polling=20)
        return {"start_to_chart": chart, "page_back": back, "stop_to_stopped": time.perf_counter() - clicked}
    finally:
        page.close()


def sidebar_check(browser, url: str, seconds: float = 12.0) -> list[str]:
    """While one job trains: the sidebar's status beside the counters' epoch (read together), every 3 s."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    lines = []
    try:
        page.goto(url)
        page.get_by_role("button", name="▶ Start").click(timeout=TIMEOUT_MS)
        page.wait_for_function(CHART_HAS_DATA, timeout=TIMEOUT_MS, polling=50)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            page.wait_for_timeout(3_000)
            sidebar, counter = page.evaluate(SIDEBAR_AND_COUNTER)
            status = re.search(r"Training: (\w+) · epoch ([\d,]+)", sidebar)
            shown = f"{status.group(1)} · epoch {status.group(2)}" if status else "(no status)"
            lines.append(f"sidebar {shown:<28} counters {' '.join(counter.split())}")
        page.evaluate(CLICK, "stop")
        page.wait_for_function(STOPPED, timeout=TIMEOUT_MS)
    finally:
        page.close()
    return lines


def start_other_jobs(browser, url: str) -> list:
    """OTHER_JOBS sessions that each start a job and move to the Build page (their jobs keep training)."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    pages = []
    for _ in range(OTHER_JOBS):
        page = context.new_page()
        page.goto(url)
        page.get_by_role("button", name="▶ Start").click(timeout=TIMEOUT_MS)
        page.wait_for_function(CHART_HAS_DATA, timeout=TIMEOUT_MS, polling=100)
        page.locator('[data-testid="stSidebarNav"] a', has_text="Build").click()
        page.get_by_text("Training: running").first.wait_for(timeout=TIMEOUT_MS)
        pages.append(page)
    return [context, pages]


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s   worst {max(values):6.2f} s"


def report(name: str, tries: list[dict[str, float]]) -> None:
    load = os.getloadavg()
    print(f"\n({name}) {len(tries)} tries, load average {load[0]:.1f} / {load[1]:.1f} after them")
    for key, label in (("start_to_chart", "Start -> first chart"), ("stop_to_stopped", 'Stop -> "Stopped"'),
                       ("page_back", "Start -> page back")):
        values = [t[key] for t in tries]
        print(f"  {label:<22} {summary(values)}   all: {', '.join(f'{v:.2f}' for v in values)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    log_path = Path(tempfile.mkdtemp()) / "server.log"
    server = start_server(port, log_path)
    url = train_url(f"http://127.0.0.1:{port}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
          f"server log {log_path}")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            idle = [one_try(browser, url) for _ in range(args.tries)]
            report("a: idle server; the first try is the first Start after the server started", idle)
            for line in sidebar_check(browser, url):
                print("  " + line)
            others = start_other_jobs(browser, url)
            loaded = [one_try(browser, url) for _ in range(args.tries)]
            report(f"b: {OTHER_JOBS} other jobs training on the same server", loaded)
            for line in sidebar_check(browser, url):
                print("  " + line)
            others[0].close()
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    warnings = log_path.read_text().count(WARNING)
    print(f'\n"{WARNING}" warnings in the server log: {warnings} '
          f"(for {2 * args.tries + 2 + OTHER_JOBS} job starts)")


if __name__ == "__main__":
    main()
