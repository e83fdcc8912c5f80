"""Lessons: a ready-made demo for a class (a starting setup, which views are open, steps with text),
written by hand as one TOML file per lesson under assets/lessons/.

A lesson file::

    title = "Overfitting and early stopping"
    topic = "overfitting"            # a name from dlbuilder.curriculum.TOPICS
    order = 1                        # its place among that topic's lessons
    summary = "One line for the list."

    [start]                          # a preset or a whole [start.document], then changes
    preset = "deep_mlp"
    dataset = "moons"
    [start.training]
    epochs = 300

    [views]                          # open on the Train / Inspect pages
    overlay = true
    settings = ["noise", "num_samples"]   # the settings projector mode keeps visible

    [[steps]]                        # each: text, then the changes it applies
    title = "Add noise"
    do = "What to do."
    look = "What to look for."
    ask = "One question for the class."
    [steps.data]
    noise = 35

Changes (in `[start]` and in each step): `preset`, `dataset`, `data`, `training`, `seed`,
`layers` (node id -> parameters), `insert` (a list of {after, type, id, params}), `remove`
(node ids). Loading checks every field and builds the document after each step through the
normal document pipeline and validation, so a lesson that loads also trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from dlbuilder import toml_writer
from dlbuilder.curriculum import TOPICS, topic_position
from dlbuilder.document import Document, load_document
from dlbuilder.share import compact_dict, pack_json, unpack_json

LESSON_DIR = Path(__file__).resolve().parents[1] / "assets" / "lessons"
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,60}")  # a built-in lesson's name is its file name; always fullmatch
MAX_LESSON_BYTES = 256_000  # a lesson with a 200-layer network inline is ~40 KB
MAX_LESSON_FILES = 200
PAGES = ("train", "inspect", "build", "experiments")
INSPECT_TABS = ("first", "surface", "landscape", "convolution", "sequences", "weights", "bottleneck")


class LessonError(ValueError):
    """A lesson that cannot be used; each problem names the file and the field, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        shown = "; ".join(self.problems[:3])
        more = f"; and {len(self.problems) - 3} more" if len(self.problems) > 3 else ""
        super().__init__(shown + more)


@dataclass(frozen=True)
class Step:
    """One step: what to do, what to look for, one question, and the changes it applies."""

    title: str
    do: str
    look: str
    ask: str
    changes: dict[str, Any]  # checked: preset, dataset, data, training, seed, layers, insert, remove
    views: dict[str, Any]  # only the views this step changes
    train: bool  # start training once the changes are made


@dataclass(frozen=True)
class Lesson:
    """A checked lesson; `raw` is its file content (what save_lesson writes back)."""

    name: str
    title: str
    topic: str
    also: tuple[str, ...]  # further curriculum topics it covers
    order: int
    summary: str
    notes: str
    views: dict[str, Any]  # every view, defaults filled in
    steps: tuple[Step, ...]
    documents: tuple[dict, ...]  # the document after each step, checked when the lesson loaded
    source: str  # the file name, or "the lesson link"
    raw: dict[str, Any]


def read_lesson(text: str | bytes, source: str, name: str = "shared") -> Lesson:
    """A Lesson from TOML text; raise LessonError whose lines start with `source` and the field."""
    from dlbuilder.lesson_reader import parse_toml, read_raw

    return read_raw(parse_toml(text, source), source, name)


def load_lesson(path: str | Path) -> Lesson:
    """Read and check one lesson file (its name is the file name without .toml)."""
    path = Path(path)
    if not NAME_PATTERN.fullmatch(path.stem):
        raise LessonError([f"{path.name}: a lesson file name uses only a-z, 0-9 and _ (at most 60): rename it"])
    size = path.stat().st_size
    if size > MAX_LESSON_BYTES:
        raise LessonError([f"{path.name}: the file has {size:,} bytes; a lesson has at most {MAX_LESSON_BYTES:,}"])
    return read_lesson(path.read_bytes(), path.name, path.stem)


def lesson_document(lesson: Lesson, step: int) -> Document:
    """The document after steps 0..`step` (0 = the first step), freshly loaded (the caller may edit it)."""
    return load_document(lesson.documents[_step_index(lesson, step)])


def lesson_views(lesson: Lesson, step: int) -> dict[str, Any]:
    """Every view as it is at `step`: the lesson's views, then each step's changes up to it."""
    views = dict(lesson.views)
    for earlier in lesson.steps[:_step_index(lesson, step) + 1]:
        views.update(earlier.views)
    return views


def apply_step(document: Document, lesson: Lesson, step: int) -> Document:
    """`document` (which the teacher may have changed) with `step`'s changes made on top."""
    from dlbuilder.lesson_changes import apply_changes

    index = _step_index(lesson, step)
    return apply_changes(document, lesson.steps[index].changes, f"{lesson.source}: steps[{index + 1}]")


def used_settings(lesson: Lesson) -> set[str]:
    """Settings the lesson shows or changes: what projector mode keeps visible on the Train page."""
    used = set(lesson.views.get("settings", ()))
    for step in lesson.steps:
        used.update(step.views.get("settings", ()))
        used.update(step.changes.get("data", {}))
        used.update(step.changes.get("training", {}))
        used.update(key for key in ("seed", "dataset") if key in step.changes)
    return used


def _step_index(lesson: Lesson, step: int) -> int:
    if not 0 <= step < len(lesson.steps):
        raise LessonError([f"{lesson.source}: step {step + 1} does not exist (the lesson has {len(lesson.steps)})"])
    return step


# -- writing lessons: files and links ------------------------------------------------------------


def save_lesson(lesson: Lesson, path: str | Path | None = None) -> str:
    """The lesson as TOML text (written to `path` when given); `load_lesson` reads it back equal."""
    text = f"# dlbuilder lesson: {_one_line(lesson.title)}\n" + toml_writer.dumps(lesson.raw)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def lesson_from_setup(document: Document, title: str, topic: str, steps: list[dict], summary: str = "",
                      views: dict | None = None, notes: str = "") -> Lesson:
    """A lesson starting from `document` (a teacher's current setup), checked like a file."""
    from dlbuilder.lesson_reader import read_raw

    raw = {"title": title, "topic": topic, "order": 1, "summary": summary, "notes": notes,
           "start": {"document": compact_dict(document)}, "views": dict(views or {}), "steps": steps}
    return read_raw(raw, "the new lesson", "shared")


def encode_lesson(lesson: Lesson) -> str:
    """The whole lesson packed for a link (`?l=`), like a share link packs a document."""
    return pack_json(lesson.raw)


def decode_lesson(text: str) -> Lesson:
    """Open a packed lesson from a link; raise LessonError (or ShareLinkError) saying what to do."""
    from dlbuilder.lesson_reader import read_raw

    return read_raw(unpack_json(text, "lesson link"), "the lesson link", "shared")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:100]


# -- the built-in lessons --------------------------------------------------------------------------


def load_lessons(folder: Path = LESSON_DIR) -> tuple[dict[str, Lesson], dict[str, str]]:
    """Every lesson file in `folder` in curriculum order, and the problems of those that do not load."""
    found, problems = [], {}
    paths = sorted(folder.glob("*.toml"))[:MAX_LESSON_FILES] if folder.is_dir() else []
    for path in paths:
        try:
            found.append(load_lesson(path))
        except (LessonError, OSError) as error:
            problems[path.name] = str(error)
    found.sort(key=lambda lesson: (topic_position(lesson.topic), lesson.order, lesson.title))
    return {lesson.name: lesson for lesson in found}, problems


LESSONS, LESSON_PROBLEMS = load_lessons()


def coverage(lessons: dict[str, Lesson] | None = None) -> list[dict[str, str]]:
    """One row per curriculum topic: its lessons (built-in by default), or why it has none yet."""
    lessons = LESSONS if lessons is None else lessons
    rows = []
    for topic in TOPICS.values():
        covering = [lesson.title for lesson in lessons.values() if topic.name in (lesson.topic, *lesson.also)]
        rows.append({"topic": topic.title, "lectures": topic.sources, "lessons": "; ".join(covering),
                     "not yet": "" if covering else topic.not_yet or "no lesson written yet"})
    return rows


def lesson_url(base_url: str, lesson: Lesson) -> str:
    """A link that opens `lesson` at its first step: ?lesson=<name> when built in, else the packed ?l=."""
    parts = urlsplit(base_url)
    key, value = ("lesson", lesson.name) if LESSONS.get(lesson.name) is lesson else ("l", encode_lesson(lesson))
    return urlunsplit((parts.scheme, parts.netloc, "/", urlencode({key: value, "step": "1"}), ""))
