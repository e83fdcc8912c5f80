"""The Lessons page and projector mode driven with AppTest: list, one-click open, next step, links,
projector mode hiding what the lesson does not use and surviving page switches."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dlbuilder.curriculum import TOPICS
from dlbuilder.lessons import LESSONS, encode_lesson, lesson_document, read_lesson
from dlbuilder.share import encode_document
from dlbuilder.ui import jobs, lessons, projector, session

APP = str(Path(__file__).resolve().parents[1] / "app.py")
OVERFITTING = "overfitting_early_stopping"


@pytest.fixture
def app():
    test = AppTest.from_file(APP, default_timeout=60)
    yield test
    job = test.session_state[jobs.JOB] if jobs.JOB in test.session_state else None
    if job is not None:
        job.stop()
        job.wait(5)


def on_page(app: AppTest, name: str, query: dict | None = None) -> AppTest:
    for key, value in (query or {}).items():
        app.query_params[key] = value
    return app.switch_page(f"pages/{name}.py").run()


def texts(app: AppTest) -> str:
    return " ".join(e.value for kind in ("markdown", "caption", "error", "warning", "info", "success")
                    for e in app.get(kind))


def param(app: AppTest, key: str) -> str | None:
    value = app.query_params.get(key)
    return value[0] if isinstance(value, list) else value


def labels(app: AppTest) -> set[str]:
    """The settings' labels (the live charts' own switches, which appear with the first epoch, left out)."""
    return {w.label for kind in ("slider", "number_input", "selectbox", "toggle", "checkbox") for w in app.get(kind)
            if not w.label.startswith("Show")}


def open_overfitting(app: AppTest) -> AppTest:
    on_page(app, "lessons")
    return app.button(key=f"dlb_lesson_open_{OVERFITTING}").click().run()


def test_the_lessons_page_lists_every_lesson_under_its_topic_in_curriculum_order(app):
    on_page(app, "lessons")
    assert not app.exception and app.title[0].value == "Lessons"
    keys = {button.key for button in app.button}
    assert {f"dlb_lesson_open_{name}" for name in LESSONS} <= keys
    topics = [header.value for header in app.subheader]
    covered = [topic.title for topic in TOPICS.values() if any(l.topic == topic.name for l in LESSONS.values())]
    assert topics == covered  # the lectures' order, each topic once
    assert app.dataframe[0].value["topic"].tolist() == [topic.title for topic in TOPICS.values()]


def test_one_click_opens_a_lesson_on_its_page_and_its_first_step_trains(app):
    open_overfitting(app)
    assert not app.exception and app.title[0].value == "Train"  # the lesson's page
    lesson = LESSONS[OVERFITTING]
    assert app.session_state[session.DOCUMENT].to_dict() == lesson_document(lesson, 0).to_dict()
    assert app.session_state[jobs.JOB] is not None  # step 1 trains by itself
    shown = texts(app)
    assert "Overfitting and early stopping" in shown and "step 1 of 4" in shown
    assert app.session_state["dlb_overlay"] is True  # the lesson's views are set
    assert param(app, "lesson") == OVERFITTING and param(app, "step") == "1"


def test_next_step_applies_its_changes_and_retrains_from_the_same_seed(app):
    open_overfitting(app)
    first = app.session_state[jobs.JOB]
    on_page(app, "train").button(key="dlb_lesson_next").click().run()
    assert not app.exception
    document = app.session_state[session.DOCUMENT]
    assert document.data.params["noise"] == 35 and document.seed == 0
    assert app.session_state[jobs.JOB] is not first and "step 2 of 4" in texts(app)
    for _ in range(2):
        on_page(app, "train").button(key="dlb_lesson_next").click().run()
    document = app.session_state[session.DOCUMENT]
    assert document.data.params["num_samples"] == 100 and document.training["early_stopping"]
    assert document.training["patience"] == 20 and "step 4 of 4" in texts(app)
    assert app.button(key="dlb_lesson_next").disabled
    app.button(key="dlb_lesson_back").click().run()
    assert not app.session_state[session.DOCUMENT].training["early_stopping"] and "step 3 of 4" in texts(app)


def test_a_step_on_another_page_goes_there_and_opens_its_tab(app):
    on_page(app, "lessons")
    app.button(key="dlb_lesson_open_error_surface_learning_rate").click().run()
    assert not app.exception and app.title[0].value == "Inspect"
    assert jobs.JOB not in app.session_state or app.session_state[jobs.JOB] is None  # nothing to train
    assert app.session_state["dlb_surface_preset"] == "right"
    app.button(key="dlb_lesson_next").click().run()
    assert app.session_state["dlb_surface_preset"] == "too small"
    assert any("crawl" in c.value or "tiny" in c.value for c in app.caption)  # the radio's own help text


def test_projector_mode_hides_what_the_lesson_does_not_use_and_survives_page_switches(app):
    open_overfitting(app)
    on_page(app, "train")
    everything = labels(app)
    assert {"learning rate", "batch size", "seed", "noise", "num samples"} <= everything
    app.toggle(key=projector.SWITCH).set_value(True).run()
    hidden = labels(app)
    assert {"noise", "num samples", "train fraction", "early stopping"} <= hidden
    assert not {"learning rate", "batch size", "seed", "val fraction", "x squared"} & hidden
    assert {"dlb_start", "dlb_pause", "dlb_step", "dlb_reset", "dlb_lesson_next"} <= {b.key for b in app.button}
    assert param(app, "projector") == "1"
    on_page(app, "inspect")
    assert app.session_state[projector.PROJECTOR] and app.toggle(key=projector.SWITCH).value
    assert param(app, "projector") == "1"
    on_page(app, "train")
    assert labels(app) == hidden  # still hidden after the switch
    app.toggle(key=projector.SWITCH).set_value(False).run()
    assert "learning rate" in labels(app) and "projector" not in app.query_params


def test_projector_link_turns_it_on_and_figures_grow(app):
    on_page(app, "lessons", {"projector": "1"})
    assert app.session_state[projector.PROJECTOR] is True
    assert any("font-size: 22px" in h.proto.body for h in app.get("html"))
    open_overfitting(app)
    on_page(app, "train")
    assert projector.FIGURE_SCALE > 1 and app.session_state[projector.PROJECTOR]


def test_a_lesson_link_opens_the_lesson_at_its_step_from_the_start_page(app):
    app.query_params["lesson"] = OVERFITTING
    app.query_params["step"] = "3"
    app.run()
    assert not app.exception
    assert app.session_state[lessons.ACTIVE].step == 2
    assert app.session_state[session.DOCUMENT].data.params["num_samples"] == 100
    assert app.title[0].value == "Train"


@pytest.mark.parametrize("query, message", [
    ({"lesson": "../../etc/passwd"}, "names no built-in lesson"),
    ({"lesson": "![x](http://example.invalid/x.png)"}, "names no built-in lesson"),
    ({"l": "1.garbage!"}, "could not be opened"),
    ({"l": "1." + "A" * 20_000}, "at most 16,000 characters"),
])
def test_a_bad_lesson_link_says_so_and_the_app_still_works(app, query, message):
    on_page(app, "build", query)
    assert not app.exception and app.title[0].value == "Build a network"
    errors = " ".join(e.value for e in app.error)
    assert message in errors.replace("\\", "") and lessons.ACTIVE not in app.session_state
    assert "<img" not in errors and "](http" not in errors


def test_a_shared_lesson_link_keeps_its_document_and_round_trips(app):
    lesson = read_lesson((Path(__file__).resolve().parents[1] / "assets/lessons/dropout_ab.toml").read_bytes(),
                         "mine.toml")
    document = lesson_document(lesson, 1)
    document.training["epochs"] = 11  # the teacher's own change, carried by ?g=
    on_page(app, "train", {"l": encode_lesson(lesson), "step": "2", "g": encode_document(document)})
    assert not app.exception
    active = app.session_state[lessons.ACTIVE]
    assert active.step == 1 and active.lesson.raw == lesson.raw
    assert app.session_state[session.DOCUMENT].training["epochs"] == 11
    assert param(app, "l") == encode_lesson(lesson) and param(app, "step") == "2"


def test_the_current_setup_saves_as_a_lesson_file_that_loads_back(app):
    open_overfitting(app)
    on_page(app, "train").button(key="dlb_lesson_next").click().run()
    on_page(app, "lessons")
    saved = next(e for e in app.get("download_button") if e.proto.label.startswith("Download the lesson file"))
    assert not app.exception and saved is not None
    code = " ".join(c.value for c in app.code)
    assert "?l=1." in code and "&step=1" in code


def tab_defaults(node) -> list[int]:
    """The index of the tab each tab container on the page opens first."""
    found = []
    proto = getattr(node, "proto", None)
    if proto is not None and hasattr(proto, "WhichOneof") and proto.DESCRIPTOR.oneofs_by_name.get("type") \
            and proto.WhichOneof("type") == "tab_container":
        found.append(proto.tab_container.default_tab_index)
    for child in getattr(node, "children", {}).values():
        found += tab_defaults(child)
    return found


def test_an_inspect_step_opens_the_lessons_tab(app):
    on_page(app, "lessons")
    app.button(key="dlb_lesson_open_gradient_check").click().run()
    job = app.session_state[jobs.JOB]
    assert job.wait(120) and job.state_dict() is not None  # 5 epochs of the small CNN
    on_page(app, "train").button(key="dlb_lesson_next").click().run()
    assert not app.exception and app.title[0].value == "Inspect"
    names = [tab.label for tab in app.tabs]
    assert tab_defaults(app._tree) == [names.index("Weights & gradients")] != [0]
    assert app.button(key="dlb_inspect_gradcheck") is not None


def test_a_sweep_lesson_opens_the_experiments_page_with_its_lecture_sweep():
    from dlbuilder.ui import experiments
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params["lesson"] = "hidden_layers_table"
    app.run()
    assert not app.exception
    app.run()  # the lesson's page opens at the next run
    assert not app.exception
    assert app.session_state[experiments.SOURCE] == "hidden_layers"
    assert app.selectbox(key=experiments.SOURCE).value == "hidden_layers"  # the form shows the lecture's sweep
    assert [title.value for title in app.title] == ["Experiments"]
    assert any("Fill the table" in markdown.value for markdown in app.markdown)  # the lesson box is there
