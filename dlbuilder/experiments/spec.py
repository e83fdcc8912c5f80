"""A sweep: a base document and one or two axes, expanded (grid or random search) into concrete runs.

    spec = SweepSpec(base, (SweepAxis("learning_rate", (0.01, 0.03, 0.1)), SweepAxis("width", (4, 8))))
    runs = expand(spec)          # 6 PlannedRuns, each a complete document
    plan = plan_sweep(spec)      # the runs, which of them train together, the estimated cost

Everything is bounded before anything trains: at most MAX_AXES axes of MAX_VALUES values and MAX_RUNS
runs; `plan_sweep` also refuses a sweep whose estimated cost is over its budget, saying what to shrink.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlbuilder.document import Document
from dlbuilder.experiments.axes import AXES, OVERLAPS, Axis, AxisError, axis, label, parse_value
from dlbuilder.experiments.chain import ChainError, parse_chain, rebuild
from dlbuilder.validation import ValidationReport, validate

MAX_AXES = 2
MAX_VALUES = 16
MAX_RUNS = 64
SEARCHES = ("grid", "random")
MAX_EPOCHS = 10_000


class SweepError(ValueError):
    """A sweep that cannot run; the message says what to change."""


@dataclass(frozen=True)
class SweepAxis:
    """One varied setting and its values (typed, or as text to be parsed)."""

    name: str
    values: tuple


@dataclass(frozen=True)
class SweepSpec:
    """The base document, the axes, grid or random search (`count` runs), and epochs per run."""

    base: Document
    axes: tuple[SweepAxis, ...]
    search: str = "grid"
    count: int = 0  # random search: how many runs
    random_seed: int = 0  # random search: which draws
    epochs: int | None = None  # None: the base document's own


@dataclass(frozen=True)
class PlannedRun:
    """One concrete run: its number, label, the value of each axis, its document and parameter count."""

    index: int
    label: str
    values: dict[str, Any] = field(hash=False)
    document: Document = field(hash=False, compare=False)
    parameters: int = 0
    report: ValidationReport | None = field(default=None, hash=False, compare=False, repr=False)  # its validation


def checked_axes(spec: SweepSpec) -> list[tuple[Axis, list]]:
    """Each axis with its parsed values; SweepError for a bad axis, value, search or count."""
    if not 1 <= len(spec.axes) <= MAX_AXES:
        raise SweepError(f"a sweep varies 1 or {MAX_AXES} settings, not {len(spec.axes)}")
    names = [a.name for a in spec.axes]
    if len(set(names)) != len(names):
        raise SweepError(f"{AXES[names[0]].title if names[0] in AXES else names[0]} is chosen twice: pick two "
                         "different settings")
    if any(pair <= set(names) for pair in OVERLAPS):
        raise SweepError("hidden layer widths already set the depth and the width: sweep them together with "
                         "another setting (learning rate, say)")
    checked = []
    for sweep_axis in spec.axes:
        try:
            spec_axis = axis(sweep_axis.name)
            if not 1 <= len(sweep_axis.values) <= MAX_VALUES:  # counted before anything is parsed
                raise AxisError(f"{spec_axis.title}: give 1 to {MAX_VALUES} values, not {len(sweep_axis.values)} "
                                f"(e.g. {spec_axis.example})")
            values = [parse_value(spec_axis, value) for value in sweep_axis.values]
        except AxisError as error:
            raise SweepError(str(error)) from None
        checked.append((spec_axis, list(dict.fromkeys(values))))  # a value typed twice runs once
    _check_search(spec, checked)
    return checked


def _check_search(spec: SweepSpec, checked: list[tuple[Axis, list]]) -> None:
    if spec.search not in SEARCHES:
        raise SweepError(f"search must be grid or random, not {str(spec.search)[:20]!r}")
    if spec.epochs is not None and not 1 <= spec.epochs <= MAX_EPOCHS:
        raise SweepError(f"epochs per run must be 1 to {MAX_EPOCHS:,}, not {spec.epochs}")
    if spec.search == "random" and not 1 <= spec.count <= MAX_RUNS:
        raise SweepError(f"a random search draws 1 to {MAX_RUNS} runs, not {spec.count}")
    size = math.prod(len(values) for _, values in checked)
    if spec.search == "grid" and size > MAX_RUNS:
        counts = " x ".join(str(len(values)) for _, values in checked)
        raise SweepError(f"a grid of {counts} = {size} runs is more than the {MAX_RUNS} allowed: use fewer values")


def combinations(spec: SweepSpec, checked: list[tuple[Axis, list]]) -> list[dict[str, Any]]:
    """Every grid point, or `count` random draws (numbers between the smallest and largest value given,
    on a log scale for learning rate, batch size and L2; choices among the values given)."""
    if spec.search == "grid":
        return [dict(zip((a.name for a, _ in checked), point))
                for point in itertools.product(*(values for _, values in checked))]
    rng = np.random.default_rng(spec.random_seed)
    return [{a.name: _draw(rng, a, values) for a, values in checked} for _ in range(spec.count)]


def _draw(rng: np.random.Generator, spec_axis: Axis, values: list) -> Any:
    if spec_axis.kind not in ("int", "float") or len(values) == 1:
        return values[int(rng.integers(len(values)))]
    low, high = min(values), max(values)
    if spec_axis.log and low > 0:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
    else:
        value = rng.uniform(low, high)
    if spec_axis.kind == "int":
        return int(min(high, max(low, round(value))))
    return float(f"{value:.3g}")  # three significant digits: readable labels, same draw each time


def apply_values(base: Document, values: dict[str, Any]) -> Document:
    """`base` with each axis set to its value (structural edits first, in their order); AxisError if an
    axis needs a plain Dense chain and the network is not one."""
    document = copy.deepcopy(base)
    structural = sorted((AXES[name] for name in values if AXES[name].structural), key=lambda a: a.order)
    if structural:
        try:
            chain = parse_chain(document)
        except ChainError as error:
            raise AxisError(f"{structural[0].title} changes the hidden Dense layers of a plain chain "
                            f"(Input → Dense … → Output), but {error}: sweep a training setting (learning "
                            "rate, batch size, optimizer, ...) instead, or start from 'New network for' a "
                            "dataset on the Build page") from None
        for spec_axis in structural:
            spec_axis.edit(chain, values[spec_axis.name])
        document = rebuild(document, chain)
    for name, value in values.items():
        setting = AXES[name].setting
        if setting == "seed":
            document.seed = int(value)
        elif setting is not None:
            document.training[setting] = value
    return document


def expand(spec: SweepSpec) -> list[PlannedRun]:
    """The concrete runs of `spec`, each checked; SweepError naming the first run that cannot train."""
    checked = checked_axes(spec)
    base = copy.deepcopy(spec.base)
    if spec.epochs is not None:
        base.training["epochs"] = spec.epochs
    report = validate(base)
    if not report.ok:
        raise SweepError("the network has problems; fix them on the Build page first: "
                         + "; ".join(str(p) for p in report.problems[:3]))
    if base.data is None:
        raise SweepError("no dataset is chosen: pick one on the Train page first")
    runs = []
    for index, values in enumerate(combinations(spec, checked), start=1):
        run_label = ", ".join(label(AXES[name], value) for name, value in values.items())
        try:
            document = apply_values(base, values)
        except AxisError as error:
            raise SweepError(str(error)) from None
        document.name = f"{base.name} · {run_label}"[:200]
        report = validate(document)
        if not report.ok:
            raise SweepError(f"run {index} ({run_label}) cannot train: {report.problems[0]}")
        runs.append(PlannedRun(index, run_label, values, document, report.total_params, report))
    return runs
