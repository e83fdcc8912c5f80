"""The Train page driven with AppTest: start, watch metrics grow, pause, resume, stop, faults."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlbuilder.presets import PRESETS
from dlbuilder.ui import jobs, session

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def train_page():
    app = AppTest.from_file(APP, default_timeout=60)
    app.switch_page("pages/train.py")
    yield app
    job = app.session_state[jobs.JOB] if jobs.JOB in app.session_state else None
    if job is not None:
        job.stop()
        job.wait(5)


def with_document(app: AppTest, document) -> AppTest:
    app.session_state[session.DOCUMENT] = document
    return app.run()


def wait_for(app: AppTest, predicate, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = app.session_state[jobs.JOB].snapshot()
        if predicate(snapshot):
            return True
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting: status {snapshot.status} ({snapshot.message}), epoch {snapshot.epoch}")


def metric(app: AppTest, label: str) -> str:
    return next(m.value for m in app.metric if m.label == label)


def test_start_pause_resume_stop(train_page):
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000
    app = with_document(train_page, document)
    assert not app.exception
    app.button(key="dlb_start").click().run()
    assert wait_for(app, lambda s: s.epoch >= 3)
    app.run()
    first = int(metric(app, "Epoch").replace(",", ""))
    assert first >= 3 and metric(app, "Updates per epoch") == "20"
    assert any("ceil(200 / 10) = 20" in c.value for c in app.caption)
    assert wait_for(app, lambda s: s.epoch > first + 2)
    app.run()
    assert int(metric(app, "Epoch").replace(",", "")) > first  # the counters grow

    app.button(key="dlb_pause").click().run()
    assert wait_for(app, lambda s: s.status == "paused")
    held = app.session_state[jobs.JOB].snapshot().step
    time.sleep(0.4)
    assert app.session_state[jobs.JOB].snapshot().step == held  # the count holds
    app.run()
    assert any("Paused" in w.value for w in app.warning)
    app.button(key="dlb_pause").click().run()  # now labelled Resume
    assert wait_for(app, lambda s: s.step > held + 10)
    app.button(key="dlb_stop").click().run()
    assert wait_for(app, lambda s: s.status == "stopped")
    app.run()
    assert any("Stopped" in i.value for i in app.info)


def test_a_diverging_learning_rate_says_what_to_do(train_page):
    document = PRESETS["playground"].load()
    document.training.update(learning_rate=10.0, loss="mse")
    app = with_document(train_page, document)
    app.button(key="dlb_start").click().run()
    assert wait_for(app, lambda s: s.status == "diverged")
    app.run()
    message = " ".join(e.value for e in app.error)
    assert "Diverged" in message and "learning rate 10 is probably too high" in message


def test_early_stopping_triggers_on_a_noisy_small_set(train_page):
    document = PRESETS["deep_mlp"].load()
    document.data.params.update(noise=50, num_samples=120)
    document.training.update(early_stopping=True, patience=5, epochs=500, learning_rate=0.03)
    for node in document.nodes:
        if node.type == "dense":
            node.params["units"] = 64
    app = with_document(train_page, document)
    app.button(key="dlb_start").click().run()
    assert wait_for(app, lambda s: s.status == "early_stopped", timeout=60)
    app.run()
    snapshot = app.session_state[jobs.JOB].snapshot()
    assert snapshot.epoch == snapshot.best_epoch + 5 < 500
    assert metric(app, "Best epoch") == str(snapshot.best_epoch)
    assert any("Early stopped" in s.value and "restored the weights of epoch" in s.value for s in app.success)
    charts = len(app.get("plotly_chart"))
    app.toggle(key="dlb_norms").set_value(True).run()
    assert len(app.get("plotly_chart")) == charts + 2  # gradient and weight norms per layer


def test_a_broken_network_cannot_start_and_says_why(train_page):
    document = PRESETS["playground"].load()
    document.edges = document.edges[:-1]
    app = with_document(train_page, document)
    assert any("fix them on the **Build** page" in e.value for e in app.error)
    app.button(key="dlb_start").click().run()
    assert jobs.JOB not in app.session_state or app.session_state[jobs.JOB] is None


def test_changing_noise_retrains_from_the_same_seed(train_page):
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000
    app = with_document(train_page, document)
    app.button(key="dlb_start").click().run()
    first = app.session_state[jobs.JOB]
    assert wait_for(app, lambda s: s.epoch >= 1)
    noise = next(s for s in app.slider if s.label == "noise")
    noise.set_value(30).run()
    second = app.session_state[jobs.JOB]
    assert second is not first and second.document.data.params["noise"] == 30
    assert second.document.seed == first.document.seed
    assert first.wait(5) and first.status == "stopped"


def test_a_csv_upload_becomes_the_dataset(train_page, tmp_path, monkeypatch):
    monkeypatch.setenv("DLBUILDER_CACHE", str(tmp_path))
    from dlbuilder.editing import set_dataset
    app = with_document(train_page, set_dataset(PRESETS["deep_mlp"].load(), "csv"))
    assert any("no CSV file is uploaded yet" in e.value for e in app.error)
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}" for i in range(60))
    from dlbuilder.datasets import store_upload
    key = store_upload(("x1,x2,label\n" + rows).encode())
    document = app.session_state[session.DOCUMENT]
    document.data.params["file"] = key  # what the uploader widget stores (AppTest cannot upload files)
    app.run()
    assert not any("no CSV file" in e.value for e in app.error)
    assert app.session_state[session.DOCUMENT].data.params["file"] == key
