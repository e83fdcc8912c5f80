"""Checking a lesson's raw data field by field (the changes themselves are made in lesson_changes).

Every problem names the file and the field (`overfitting.toml: steps[2].data.noise: ...`).
Structure and types are checked first (unknown keys refused, texts and counts bounded); then
the document after each step is built through the normal pipeline and validated.
"""

from __future__ import annotations

import tomllib
from typing import Any

from dlbuilder.curriculum import TOPICS
from dlbuilder.datasets import DATASETS
from dlbuilder.document import Document, DocumentError, check_nesting, shown
from dlbuilder.layers import LAYERS
from dlbuilder.lesson_changes import apply_changes
from dlbuilder.experiments import LECTURE_SWEEPS
from dlbuilder.lessons import INSPECT_TABS, MAX_LESSON_BYTES, PAGES, Lesson, LessonError, Step
from dlbuilder.params import Param, ParamError, check_value
from dlbuilder.presets import PRESETS
from dlbuilder.share import compact_dict
from dlbuilder.training.settings import TRAINING_PARAMS
from dlbuilder.validation import validate

TOP_KEYS = ("title", "topic", "also", "order", "summary", "notes", "start", "views", "steps")
CHANGE_KEYS = ("preset", "dataset", "data", "training", "seed", "layers", "insert", "remove")
STEP_KEYS = ("title", "do", "look", "ask", "train", "views") + CHANGE_KEYS
INSERT_KEYS = ("after", "type", "id", "params")
LIMITS = {"title": 100, "summary": 300, "notes": 2000, "do": 800, "look": 800, "ask": 400}
MAX_STEPS, MAX_LIST = 12, 40  # steps per lesson; entries of any list (settings, inserts, removals, layers)
VIEW_PARAMS: tuple[Param, ...] = (
    Param("page", "choice", "train", "The page the step happens on.", choices=PAGES),
    Param("inspect_tab", "choice", "first", "The Inspect tab to open.", choices=INSPECT_TABS),
    Param("log_scale", "bool", False, "Log-scale loss axis."),
    Param("overlay", "bool", False, "Overlay the previous run."),
    Param("neurons", "bool", False, "Every neuron's output over the plane."),
    Param("norms", "bool", False, "Per-layer gradient and weight norms."),
    Param("surface_rate", "choice", "right", "Inspect's linear surface: the learning rate.",
          choices=("too small", "right", "too large")),
    Param("surface_race", "bool", False, "Inspect's linear surface: the optimizer race."),
    Param("sweep", "choice", "", "The lecture sweep the Experiments page opens with.",
          choices=("", *LECTURE_SWEEPS)),
)
VIEWS = {param.name: param for param in VIEW_PARAMS}
TRAINING = {param.name: param for param in TRAINING_PARAMS}
DATA_SETTINGS = {param.name for spec in DATASETS.values() for param in spec.params}
KNOWN_SETTINGS = frozenset(TRAINING) | DATA_SETTINGS | {"seed", "dataset"}


def parse_toml(text: str | bytes, source: str) -> dict:
    """Bounded TOML parsing: size first, then syntax, nesting and numbers, each refused in one line."""
    if len(text) > MAX_LESSON_BYTES:
        raise LessonError([f"{source}: {len(text):,} bytes; a lesson has at most {MAX_LESSON_BYTES:,}"])
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise LessonError([f"{source}: not UTF-8 text: save the lesson as UTF-8"]) from None
    try:
        return tomllib.loads(text)
    except RecursionError:
        raise LessonError([f"{source}: nested too deeply to be a lesson"]) from None
    except tomllib.TOMLDecodeError as error:
        raise LessonError([f"{source}: not valid TOML: {error}"]) from None
    except ValueError:  # e.g. an integer of more than 4,300 digits
        raise LessonError([f"{source}: a value cannot be read (a number far too long?): shorten it"]) from None


def read_raw(raw: Any, source: str, name: str) -> Lesson:
    """Check a lesson's data and build its documents; raise LessonError listing every problem."""
    try:
        check_nesting(raw)
    except DocumentError:
        raise LessonError([f"{source}: nested too deeply to be a lesson"]) from None
    checker = _Checker(source)
    lesson = checker.lesson(raw, name)
    if checker.problems:
        raise LessonError(checker.problems)
    return lesson


class _Checker:
    """Collects every problem of one lesson, each prefixed with the source and the field."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{self.source}: {where}: {message}")

    def table(self, where: str, value: Any, allowed: tuple[str, ...]) -> dict:
        if not isinstance(value, dict):
            self.fail(where or "lesson", f"must be a table (allowed keys: {', '.join(allowed)})")
            return {}
        for key in value:
            if key not in allowed:
                self.fail(f"{where}.{shown(key)}" if where else shown(key),
                          f"unknown key (allowed: {', '.join(allowed)})")
        return {key: item for key, item in value.items() if key in allowed}

    def text(self, where: str, value: Any, required: bool = True) -> str:
        limit = LIMITS[where.rsplit(".", 1)[-1]]
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip() and required or len(value) > limit:
            self.fail(where, f"must be a text of 1 to {limit} characters")
            return ""
        return value

    def value(self, where: str, param: Param, value: Any) -> Any:
        try:
            return check_value(param, value)
        except ParamError as error:
            self.fail(where, str(error))
            return param.default

    def names(self, where: str, value: Any, known, what: str) -> list[str]:
        if not isinstance(value, list) or len(value) > MAX_LIST or not all(isinstance(v, str) for v in value):
            self.fail(where, f"must be a list of at most {MAX_LIST} {what} names")
            return []
        for item in value:
            if item not in known:
                self.fail(where, f"unknown {what} {shown(item)!r}")
        return [item for item in value if item in known]

    def lesson(self, raw: Any, name: str) -> Lesson | None:
        raw = self.table("", raw, TOP_KEYS)
        for key in ("title", "topic", "order", "start", "steps"):
            if key not in raw:
                self.fail(key, "is missing")
        topic = raw.get("topic")
        if "topic" in raw and topic not in TOPICS:
            self.fail("topic", f"unknown topic {shown(topic)!r} (topics: {', '.join(TOPICS)})")
        also = tuple(self.names("also", raw.get("also", []), TOPICS, "topic"))
        order = raw.get("order", 1)
        if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= 99:
            self.fail("order", "must be a whole number from 1 to 99")
        views = self.views("views", raw.get("views", {}), partial=False)
        start = self.changes("start", self.table("start", raw.get("start", {}), CHANGE_KEYS + ("document",)))
        if "start" in raw and "preset" not in start and "document" not in start:
            self.fail("start", "needs a preset (preset = \"deep_mlp\") or a [start.document]")
        steps = self.steps(raw.get("steps"))
        texts = {key: self.text(key, raw.get(key), required=key == "title") for key in ("title", "summary", "notes")}
        if self.problems:
            return None
        documents = self.documents(start, steps)
        if self.problems:
            return None
        canonical = dict(raw)
        if "document" in start:  # kept in its checked, compact form
            canonical["start"] = {**raw["start"], "document": compact_dict(start["document"])}
        return Lesson(name=name, title=texts["title"], topic=topic, also=also, order=order,
                      summary=texts["summary"], notes=texts["notes"], views=views, steps=tuple(steps),
                      documents=tuple(documents), source=self.source, raw=canonical)

    def views(self, where: str, raw: Any, partial: bool) -> dict:
        raw = self.table(where, raw, tuple(VIEWS) + ("settings",))
        views = {} if partial else {param.name: param.default for param in VIEW_PARAMS}
        for key, value in raw.items():
            if key == "settings":
                views[key] = tuple(self.names(f"{where}.settings", value, KNOWN_SETTINGS, "setting"))
            else:
                views[key] = self.value(f"{where}.{key}", VIEWS[key], value)
        if not partial:
            views.setdefault("settings", ())
        return views

    def steps(self, raw: Any) -> list[Step]:
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_STEPS:
            self.fail("steps", f"must be a list of 1 to {MAX_STEPS} steps ([[steps]] tables)")
            return []
        steps = []
        for index, entry in enumerate(raw):
            where = f"steps[{index + 1}]"
            entry = self.table(where, entry, STEP_KEYS)
            train = entry.get("train", True)
            if not isinstance(train, bool):
                self.fail(f"{where}.train", "must be true or false")
            steps.append(Step(
                title=self.text(f"{where}.title", entry.get("title")), do=self.text(f"{where}.do", entry.get("do")),
                look=self.text(f"{where}.look", entry.get("look"), required=False),
                ask=self.text(f"{where}.ask", entry.get("ask"), required=False),
                changes=self.changes(where, {k: v for k, v in entry.items() if k in CHANGE_KEYS}),
                views=self.views(f"{where}.views", entry.get("views", {}), partial=True), train=train is True))
        return steps

    def changes(self, where: str, raw: dict) -> dict:
        """Types and names that do not depend on the network; the rest is checked when they are made."""
        if "preset" in raw and raw["preset"] not in PRESETS:
            self.fail(f"{where}.preset", f"unknown preset {shown(raw['preset'])!r} (presets: {', '.join(PRESETS)})")
        if "dataset" in raw and (raw["dataset"] not in DATASETS or raw["dataset"] == "csv"):
            self.fail(f"{where}.dataset", f"unknown dataset {shown(raw['dataset'])!r} (a lesson cannot ship a "
                                          f"CSV file; datasets: {', '.join(n for n in DATASETS if n != 'csv')})")
        if "preset" in raw and "document" in raw:
            self.fail(where, "give a preset or a document, not both")
        for key in ("data", "training", "layers"):
            if key in raw and (not isinstance(raw[key], dict) or len(raw[key]) > MAX_LIST):
                self.fail(f"{where}.{key}", f"must be a table of at most {MAX_LIST} entries")
        for key in ("insert", "remove"):
            if key in raw and (not isinstance(raw[key], list) or len(raw[key]) > MAX_LIST):
                self.fail(f"{where}.{key}", f"must be a list of at most {MAX_LIST} entries")
        for index, entry in enumerate(raw.get("insert", []) if isinstance(raw.get("insert"), list) else []):
            entry = self.table(f"{where}.insert[{index + 1}]", entry, INSERT_KEYS)
            if not isinstance(entry.get("after"), str) or entry.get("type") not in LAYERS:
                self.fail(f"{where}.insert[{index + 1}]", "needs 'after' (a layer id) and 'type' (a layer type: "
                          f"{', '.join(LAYERS)})")
        if "document" in raw:
            try:
                raw = {**raw, "document": Document.from_dict(raw["document"])}
            except DocumentError as error:
                self.fail(f"{where}.document", str(error))
        return raw

    def documents(self, start: dict, steps: list[Step]) -> list[dict]:
        """The document after each step, each through the document pipeline and validation."""
        base = start.get("document") or PRESETS[start.get("preset", "playground")].load()
        try:
            document = apply_changes(base, {k: v for k, v in start.items() if k != "document"}, "start")
        except LessonError as error:
            self.problems += [f"{self.source}: {problem}" for problem in error.problems]
            return []
        found = []
        for index, step in enumerate(steps):
            where = f"steps[{index + 1}]"
            try:
                document = Document.from_dict(apply_changes(document, step.changes, where).to_dict())
            except (LessonError, DocumentError) as error:
                self.problems += [f"{self.source}: {where}: {p}" if isinstance(error, DocumentError)
                                  else f"{self.source}: {p}" for p in error.problems]
                return []
            report = validate(document)
            if not report.ok:
                self.fail(where, f"the network after this step has problems: {report.problems[0]}")
                return []
            found.append(document.to_dict())
        return found
