"""Lesson files: every built-in one loads, validates and trains; broken ones name the file and the field;
hostile ones are refused cleanly; saving, loading and links round-trip."""

import base64
import math
import tomllib
import zlib

import pytest
import torch

from dlbuilder import toml_writer
from dlbuilder.curriculum import TOPICS
from dlbuilder.lessons import (LESSON_DIR, LESSON_PROBLEMS, LESSONS, MAX_LESSON_BYTES, LessonError, apply_step,
                               coverage, decode_lesson, encode_lesson, lesson_document, lesson_from_setup, lesson_url,
                               lesson_views, load_lesson, load_lessons, read_lesson, save_lesson, used_settings)
from dlbuilder.presets import PRESETS
from dlbuilder.share import ShareLinkError
from dlbuilder.training.evaluation import evaluate
from dlbuilder.training.trainer import Trainer
from dlbuilder.validation import validate

FILES = sorted(LESSON_DIR.glob("*.toml"))
OVERFITTING = LESSON_DIR / "overfitting_early_stopping.toml"
UPDATES = 10  # mini-batch updates per step's document (the trainer reports losses every 10 on a CPU)


def test_every_lesson_file_loads_and_the_registry_has_them_all():
    assert FILES and not LESSON_PROBLEMS
    assert sorted(LESSONS) == sorted(path.stem for path in FILES)
    for lesson in LESSONS.values():
        assert lesson.topic in TOPICS and set(lesson.also) <= set(TOPICS)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_each_step_of_each_lesson_validates_and_trains(path):
    lesson = load_lesson(path)
    for step in range(len(lesson.steps)):
        document = lesson_document(lesson, step)
        assert validate(document).ok
        trainer = Trainer(document, device="cpu")
        before = [p.detach().clone() for p in trainer.setup.model.parameters()]
        for _ in range(UPDATES):
            trainer.step()
        losses = [record.loss for record in trainer.metrics.steps()]
        assert len(losses) >= 1 and all(math.isfinite(loss) for loss in losses), (path.name, step)
        trainer.sync_weights()  # the NumPy fast path keeps its own copy between epochs
        after = list(trainer.setup.model.parameters())
        assert any(not torch.equal(a, b) for a, b in zip(after, before)), (path.name, step)  # it learned


def test_every_curriculum_topic_has_a_lesson_or_says_why_not():
    rows = coverage()
    assert len(rows) == len(TOPICS) == 31
    for row in rows:
        assert bool(row["lessons"]) != bool(row["not yet"]), row
    missing = {row["topic"] for row in rows if row["not yet"]}
    assert missing == {TOPICS[name].title for name in ("vae_gan", "reinforcement")}


def test_overfitting_lesson_validation_loss_rises_and_early_stopping_restores_the_best_epoch():
    lesson = LESSONS["overfitting_early_stopping"]
    assert lesson_views(lesson, 3)["overlay"]
    small = Trainer(lesson_document(lesson, 2), device="cpu")  # noisy and small: it overfits
    while small.step():
        pass
    losses = [record.val_loss for record in small.metrics.epochs()]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert 5 <= best <= 60 and losses[-1] > 3 * losses[best]  # falls, then rises for good
    stopping = Trainer(lesson_document(lesson, 3), device="cpu")
    while stopping.step():
        pass
    epochs = stopping.metrics.epochs()
    best_epoch = stopping.stopping.best_epoch
    assert len(epochs) == best_epoch + 20 < 300  # patience 20
    assert f"restored the weights of epoch {best_epoch}" in stopping.stop_reason
    best_record = next(record for record in epochs if record.epoch == best_epoch)
    assert min(record.val_loss for record in epochs) == best_record.val_loss
    restored = evaluate(stopping.setup, stopping.setup.splits["val"]).loss  # the model as training left it
    assert restored == pytest.approx(best_record.val_loss, abs=1e-5) and epochs[-1].val_loss > restored + 0.05


# -- broken lessons name the file and the field ------------------------------------------------------------

BROKEN = [
    (("noise = 35", "noise = 80"), "overfitting_early_stopping.toml: steps[2].data.noise: noise must be an integer "
                                   "from 0 to 50, got 80"),
    (("order = 1", "order = 1\ncolour = \"red\""), "colour: unknown key"),
    (("title = \"Add noise\"", "title = \"Add noise\"\nwhat = 1"), "steps[2].what: unknown key"),
    (("topic = \"overfitting\"", "topic = \"overfit\""), "topic: unknown topic 'overfit'"),
    (("preset = \"deep_mlp\"", "preset = \"deeper\""), "start.preset: unknown preset 'deeper'"),
    (("dense4 = { units = 32 }", "dense9 = { units = 32 }"), "start.layers: no layer 'dense9' in the network"),
    (("dense1 = { units = 32 }", "dense1 = { unit = 32 }"), "start.layers.dense1.unit: unknown parameter"),
    (("overlay = true", "overlay = \"yes\""), "views.overlay: overlay must be true or false"),
    (("\"restore_best\"]", "\"restore_best\", \"colour\"]"), "views.settings: unknown setting 'colour'"),
    (("patience = 20\n", "patience = 0\n"), "steps[4].training.patience: patience must be an integer from 1"),
    (("title = \"Overfitting and early stopping\"", "title = 1979-05-27"), "title: must be a text"),
    (("[start.data]\nnoise = 0", "[start.data]\nnoise = 0\nfile = \"x.csv\""), "start.data.file: unknown parameter"),
    (("dataset = \"moons\"", "dataset = \"csv\""), "start.dataset: unknown dataset 'csv'"),
    (("num_samples = 100", "num_samples = 100\n[steps.layers]\noutput = { units = 3, task = \"regression\" }"),
     "steps[3]: the network after this step has problems"),
]


@pytest.mark.parametrize("change, message", BROKEN, ids=[message[:40] for _, message in BROKEN])
def test_a_broken_lesson_names_the_file_and_the_field(change, message):
    text = OVERFITTING.read_text()
    assert change[0] in text
    with pytest.raises(LessonError) as caught:
        read_lesson(text.replace(change[0], change[1], 1), OVERFITTING.name)
    assert message in str(caught.value)
    assert all(problem.startswith(OVERFITTING.name + ": ") for problem in caught.value.problems)


def test_a_step_without_text_or_with_too_much_says_which():
    text = OVERFITTING.read_text()
    without = text.replace('do = "Only 100 points', 'look2 = "Only 100 points')
    with pytest.raises(LessonError, match=r"steps\[3\]\.do: must be a text of 1 to 800 characters"):
        read_lesson(without, "x.toml")
    long = text.replace('ask = "With this many weights', 'ask = "' + "a" * 500 + ' With this many weights')
    with pytest.raises(LessonError, match=r"steps\[1\]\.ask: must be a text of 1 to 400 characters"):
        read_lesson(long, "x.toml")


# -- hostile lesson files ------------------------------------------------------------------------------------

MINIMAL = 'title = "t"\ntopic = "overfitting"\norder = 1\n[start]\npreset = "playground"\n[[steps]]\ntitle = "s"\ndo = "d"\n'
HOSTILE = [
    (b"x" * (MAX_LESSON_BYTES + 1), "bytes; a lesson has at most"),
    (b"\xff\xfe not utf-8", "not UTF-8 text"),
    (b"title = \"unterminated", "not valid TOML"),
    (("a = " + "[" * 5000 + "]" * 5000).encode(), "nested too deeply"),
    (("a = " + "[" * 40 + "]" * 40 + "\n" + MINIMAL).encode(), "nested too deeply"),
    (("seed_text = " + "9" * 5000 + "\n" + MINIMAL).encode(), "a number far too long"),
    ((MINIMAL + "[steps.training]\nlearning_rate = nan\n").encode(), "learning_rate must be a finite number"),
    ((MINIMAL + "[steps.training]\nepochs = inf\n").encode(), "epochs must be an integer"),
    (("steps = \"all of them\"\n" + MINIMAL.replace("[[steps]]", "[[nope]]")).encode(), "steps: must be a list"),
    ((MINIMAL.replace("[[steps]]", "[[nope]]")).encode(), "hostile.toml: steps: is missing"),
    ((MINIMAL + "[[steps]]\ntitle = \"s\"\ndo = \"d\"\n" * 12).encode(), "steps: must be a list of 1 to 12"),
    ((MINIMAL + "remove = [" + ", ".join(['"dense1"'] * 50) + "]\n").encode(), "remove: must be a list of at most"),
    ((MINIMAL.replace('preset = "playground"', "document = { schema_version = 1, network = { nodes = ["
                                               + ", ".join('{ id = "n%d", type = "dense" }' % i for i in range(1500))
                                               + "] } }")).encode(), "start.document: network has 1,500 nodes"),
    ((MINIMAL.replace('preset = "playground"', 'preset = "playground"\ndocument = {}')).encode(),
     "give a preset or a document, not both"),
    ((MINIMAL + "[steps.layers]\ndense1 = { units = 10000000 }\n").encode(), "units must be an integer from 1"),
    ((MINIMAL + "insert = [{ after = \"dense1\", type = \"eval\" }]\n").encode(), "needs 'after'"),
    ((MINIMAL + "insert = [{ after = \"dense1\", type = \"dense\", id = \"forward\" }]\n").encode(),
     "insert[1].id: 'forward' is taken or not a layer id"),
]


@pytest.mark.parametrize("data, message", HOSTILE, ids=[message[:30] for _, message in HOSTILE])
def test_hostile_lesson_files_are_refused_with_one_clear_line(data, message):
    with pytest.raises(LessonError) as caught:
        read_lesson(data, "hostile.toml")
    assert message in str(caught.value)
    assert len(str(caught.value)) < 1_500


def test_the_minimal_lesson_loads_and_file_names_are_checked(tmp_path):
    lesson = read_lesson(MINIMAL, "minimal.toml")
    assert lesson.title == "t" and lesson.steps[0].train and lesson_views(lesson, 0)["page"] == "train"
    odd = tmp_path / "Bad name.toml"
    odd.write_text(MINIMAL)
    with pytest.raises(LessonError, match="a lesson file name uses only"):
        load_lesson(odd)
    (tmp_path / "good.toml").write_text(MINIMAL)
    (tmp_path / "broken.toml").write_text(MINIMAL.replace('"overfitting"', '"nothing"'))
    found, problems = load_lessons(tmp_path)
    assert list(found) == ["good"] and "broken.toml: topic: unknown topic" in problems["broken.toml"]


# -- steps on top of a teacher's changes ---------------------------------------------------------------------

def test_a_step_applies_its_changes_on_top_of_the_current_setup():
    lesson = LESSONS["overfitting_early_stopping"]
    mine = lesson_document(lesson, 0)
    mine.training["learning_rate"] = 0.01  # the teacher's own change survives the next step
    after = apply_step(mine, lesson, 1)
    assert after.data.params["noise"] == 35 and after.training["learning_rate"] == 0.01
    assert used_settings(lesson) >= {"noise", "num_samples", "early_stopping", "patience", "restore_best"}
    dropout = LESSONS["dropout_ab"]
    changed = lesson_document(dropout, 0)
    changed.nodes = [node for node in changed.nodes if node.id != "dense2"]
    with pytest.raises(LessonError, match=r"dropout_ab.toml: steps\[2\]\.insert\[2\]\.after: no layer 'dense2'"):
        apply_step(changed, dropout, 1)


def test_inserted_layers_take_their_ids_and_later_steps_find_them():
    lesson = LESSONS["batch_norm_deep_sigmoid"]
    document = lesson_document(lesson, 1)
    assert [n.id for n in document.nodes if n.type == "batchnorm"] == [f"bn{i}" for i in range(1, 9)]
    assert {(e.source, e.target) for e in document.edges} >= {("dense1", "bn1"), ("bn1", "sigmoid1")}
    dropout = lesson_document(LESSONS["dropout_ab"], 2)
    assert {n.id: n.params.get("p") for n in dropout.nodes if n.type == "dropout"} == {"dropout1": 0.8, "dropout2": 0.8}


# -- saving and links ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LESSONS))
def test_save_then_load_gives_the_same_lesson(name, tmp_path):
    lesson = LESSONS[name]
    path = tmp_path / f"{name}.toml"
    text = save_lesson(lesson, path)
    again = load_lesson(path)
    assert again.raw == lesson.raw and again.documents == lesson.documents and again.steps == lesson.steps
    assert tomllib.loads(text) == lesson.raw


def test_a_teachers_setup_becomes_a_lesson_that_round_trips_through_a_file_and_a_link():
    document = PRESETS["lenet"].load()
    document.training["epochs"] = 7
    steps = [{"title": "Mine", "do": "Press Start.\nThen \"wait\" \\ watch.", "look": "tabs\tand ✓", "ask": "Why?"},
             {"title": "Next", "do": "More epochs.", "training": {"epochs": 9}}]
    lesson = lesson_from_setup(document, "My lesson", "cnn_shapes", steps, views={"log_scale": True})
    assert lesson_document(lesson, 0).training["epochs"] == 7 and lesson_document(lesson, 1).training["epochs"] == 9
    again = read_lesson(save_lesson(lesson), "mine.toml")
    assert again.raw == lesson.raw and again.documents == lesson.documents
    url = lesson_url("http://example.invalid:8501/lessons?g=x", lesson)
    assert url.startswith("http://example.invalid:8501/?l=1.") and url.endswith("&step=1")
    linked = decode_lesson(url.split("l=")[1].split("&")[0])
    assert linked.raw == lesson.raw and linked.source == "the lesson link"
    builtin = LESSONS["dropout_ab"]
    assert lesson_url("http://h/train", builtin) == "http://h/?lesson=dropout_ab&step=1"
    assert decode_lesson(encode_lesson(builtin)).documents == builtin.documents


def _packed(raw_bytes: bytes) -> str:
    return "1." + base64.urlsafe_b64encode(zlib.compress(raw_bytes, 9)).decode().rstrip("=")


@pytest.mark.parametrize("link, error, message", [
    ("1.!!!", ShareLinkError, "damaged"),
    ("2." + "A" * 20, ShareLinkError, "damaged"),
    ("1." + "A" * 20_000, ShareLinkError, "at most 16,000 characters"),
    (_packed(b"[" * 100_000), ShareLinkError, "damaged"),
    (_packed(b" " * 5_000_000), ShareLinkError, "more than 1,000,000 bytes"),
    (_packed(b'{"title": "x", "topic": "overfitting", "order": 1, "start": {"preset": "playground"}, '
             b'"steps": [{"title": "s", "do": "d", "eval": "x"}]}'), LessonError,
     "the lesson link: steps[1].eval: unknown key"),
])
def test_a_bad_lesson_link_is_refused(link, error, message):
    with pytest.raises(error) as caught:
        decode_lesson(link)
    assert message in str(caught.value)


@pytest.mark.parametrize("data", [
    {"a": 'quote " backslash \\ tab \t cr \r nul \x00 del \x7f ✓', "b": "line\nbreak \"\"\" end\n"},
    {"key with space": 1, "dotted.key": -2.5e-07, "ünï": True, "": "empty key"},
    {"nested": {"deeper": {"x": [1, 2, 3], "y": []}}, "list": [{"a": 1}, {"a": {"b": [0.5]}}]},
    {"steps": [{"title": "x" * 70}, {"title": "y", "data": {"noise": 3}}], "after": {"z": False}},
    {"none": None, "kept": 0},
])
def test_the_toml_writer_round_trips_plain_data(data):
    expected = {key: value for key, value in data.items() if value is not None}
    assert tomllib.loads(toml_writer.dumps(data)) == expected


def test_the_toml_writer_refuses_what_toml_cannot_hold():
    for bad in ({"x": float("nan")}, {"x": [1, None]}, {"x": object()}, {1: "int key"}):
        with pytest.raises(ValueError):
            toml_writer.dumps(bad)


def test_lesson_documents_are_fresh_copies():
    lesson = LESSONS["dropout_ab"]
    first = lesson_document(lesson, 0)
    first.training["epochs"] = 1
    assert lesson_document(lesson, 0).training["epochs"] == 300
