"""Live-loop efficiency: a job's speed while the Train page renders it at 5 updates/s in Chromium.

For each Playground workload (spiral, tanh, SGD 0.03, batch 10, 250 training points) it measures,
in one run:
  * no page: the same document as a ThreadRunner job in this process, nobody drawing;
  * live page: the app in a Streamlit server, the Train page open in headless Chromium, charts live,
    speed read from the page's own "Updates" counter.
It prints updates/s, epochs/s, the live/no-page ratio (target >= 0.7) and epochs/s against
TensorFlow Playground's own page measured in the same browser here (60 and 22 epochs/s).

Run from the repo root: .venv/bin/python bench/live_loop.py [--seconds 10] [--neurons]
(--neurons adds a live-page run with the Playground neuron maps switched on.)
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlbuilder.playground_import import document_from_playground  # noqa: E402
from dlbuilder.share import encode_document  # noqa: E402
from dlbuilder.training.job import ThreadRunner  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_FLAGS, free_port, start_app  # noqa: E402

WORKLOADS = {
    "2-4-2-1": ("activation=tanh&batchSize=10&dataset=spiral&learningRate=0.03&networkShape=4,2"
                "&percTrainData=50&noise=0&x=true&y=true", 60.0),
    "7 features, 6x8": ("activation=tanh&batchSize=10&dataset=spiral&learningRate=0.03"
                        "&networkShape=8,8,8,8,8,8&percTrainData=50&noise=0&x=true&y=true&xSquared=true"
                        "&ySquared=true&xTimesY=true&sinX=true&sinY=true", 22.0),
}


def workload(query: str):
    document = document_from_playground(query)
    document.training["epochs"] = 100_000
    return document


def no_page_rate(document, seconds: float) -> float:
    """Updates/s of the job alone in this process (after a 1 s warm-up)."""
    runner = ThreadRunner()
    job = runner.submit(document)
    time.sleep(1.0)
    first, start = job.snapshot().step, time.perf_counter()
    time.sleep(seconds)
    rate = (job.snapshot().step - first) / (time.perf_counter() - start)
    runner.shutdown()
    return rate


def read_updates(page) -> int:
    text = page.locator('[data-testid="stMetric"]', has_text="Updates").first.inner_text()
    match = re.search(r"Updates\s+([\d,]+)", text.replace("\n", " "))
    return int(match.group(1).replace(",", "")) if match else 0


def chart_signature(page) -> str:
    """The loss chart's traces as "points:last x": it changes whenever the chart shows new data."""
    from tests.test_browser_train import TRAIN_POINTS

    return page.evaluate(TRAIN_POINTS)


def live_page_rate(browser, url: str, document, seconds: float, neurons: bool = False) -> tuple[float, float]:
    """Updates/s read from the page's counter, and loss-chart redraws per second (with `neurons`, the
    Playground neuron maps switched on: every unit's map redrawn once a second)."""
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(f"{url}/train?g={encode_document(document)}")
    page.get_by_role("button", name="▶ Start").click(timeout=60_000)
    page.locator(".st-key-dlb_loss .js-plotly-plot").first.wait_for(timeout=60_000)
    if neurons:  # the switch sits with the job's slower charts: it appears once the job runs
        page.get_by_text("Show every neuron's output", exact=False).first.click(timeout=60_000)
    page.wait_for_timeout(1000)
    first, start = read_updates(page), time.perf_counter()
    redraws, last = 0, chart_signature(page)
    while time.perf_counter() - start < seconds:
        page.wait_for_timeout(50)
        signature = chart_signature(page)
        redraws, last = redraws + (signature != last), signature
    updates = read_updates(page) - first
    elapsed = time.perf_counter() - start
    page.get_by_role("button", name="⏹ Stop").click()
    page.close()
    return updates / elapsed, redraws / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--neurons", action="store_true", help="also measure with the neuron maps switched on")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    server = start_app(port)
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            for name, (query, playground_rate) in WORKLOADS.items():
                document = workload(query)
                steps_per_epoch = -(-250 // 10)
                alone = no_page_rate(document, args.seconds)
                for neurons in (False, True) if args.neurons else (False,):
                    live, redraws = live_page_rate(browser, f"http://127.0.0.1:{port}", document, args.seconds,
                                                   neurons)
                    label = name + (", neurons" if neurons else "")
                    rows.append((label, alone, live, live / alone, redraws, live / steps_per_epoch, playground_rate))
            browser.close()
    finally:
        server.terminate()
    print(f"{'workload':<27}{'no page upd/s':>15}{'live upd/s':>12}{'ratio':>7}{'redraws/s':>11}"
          f"{'live epochs/s':>15}{'Playground':>12}{'x Playground':>14}")
    for name, alone, live, ratio, redraws, epochs, playground in rows:
        print(f"{name:<27}{alone:>15,.0f}{live:>12,.0f}{ratio:>7.2f}{redraws:>11.1f}{epochs:>15.1f}"
              f"{playground:>12.0f}{epochs / playground:>14.2f}")
    print("targets: ratio >= 0.7; live epochs/s >= 5x Playground (300 and 110)")


if __name__ == "__main__":
    main()
