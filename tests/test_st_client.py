"""bench/st_client.py against the real app: Streamlit's websocket protocol, no browser needed."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import replace

import pytest

from bench.st_client import Session
from dlbuilder.playground_import import document_from_playground
from dlbuilder.share import encode_document
from tests.browser import free_port, start_app

PLAYGROUND = "activation=tanh&batchSize=10&dataset=spiral&learningRate=0.03&networkShape=4,2&noise=0&x=true&y=true"
WAIT = 120  # seconds: generous, for a loaded 2-core machine


@pytest.fixture(scope="module")
def server_url():
    port = free_port()
    process = start_app(port)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(15)


def updates(session: Session) -> int | None:
    body = session.metric("Updates")
    return None if body is None else int(body.replace(",", ""))


async def wait_until(session: Session, condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        session.check()
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT} s; the page shows {session.texts()}"
        await asyncio.sleep(0.2)


async def home_then_train(url: str, code: str) -> dict:
    seen = {}
    home = Session(url)
    await home.open()
    await home.wait_for_run(timeout=WAIT, after=0)
    seen["home"] = home.texts()
    await home.close()

    train = Session(url)
    await train.open("train", f"g={code}")
    await train.wait_for_run(timeout=WAIT, after=0)
    seen["train"] = train.texts()
    seen["query"] = train.query_string
    await train.click("▶ Start")
    await wait_until(train, lambda: updates(train) is not None, "the Updates metric")
    first = updates(train)
    await wait_until(train, lambda: updates(train) > first, "a second value of the Updates metric")
    seen["updates"] = (first, updates(train))
    seen["auto_reruns"] = train.stats.auto_reruns_sent
    runs = train.full_runs_done
    await train.click("⏹ Stop")  # leave no job training for the tests that follow
    await train.wait_for_run(timeout=WAIT, after=runs)
    seen["after_stop"] = train.texts()
    await train.close()
    return seen


def test_client_opens_pages_and_trains_from_a_share_link(server_url):
    document = document_from_playground(PLAYGROUND)
    code = encode_document(replace(document, training={**document.training, "epochs": 5000}))
    # In a thread of its own: in the full suite Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen = pool.submit(asyncio.run, home_then_train(server_url, code)).result()
    assert "dlbuilder" in seen["home"] and "Ready-made networks" in seen["home"]
    assert "Train" in seen["train"] and "▶ Start" in seen["train"]
    assert "Opened the network from the shared link." in seen["train"]
    assert seen["query"].startswith("g="), "the app keeps the share code in the address"
    first, later = seen["updates"]
    assert later > first >= 0
    assert seen["auto_reruns"] > 0, "the live dashboard only updates through client-driven fragment reruns"
    assert any(text.startswith("Training: **stopped**") for text in seen["after_stop"]), seen["after_stop"]
