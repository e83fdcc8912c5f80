"""A sweep's results: per run its status, epoch curves and summary numbers, and the table a page shows.

`RunState` is a run in progress (written by whichever way trains it); `RunResult` is a frozen copy a
page can draw while training goes on. "Held-out" is the validation split when the data has one, else
the test split (scored every epoch, as on the Train page); the table names which.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from dlbuilder.document import Document
from dlbuilder.experiments.axes import AXES, format_value
from dlbuilder.experiments.spec import PlannedRun
from dlbuilder.training.job import ACTIVE
from dlbuilder.training.metrics import EpochRecord, MetricsStream

WAITING = ("queued",) + ACTIVE


@dataclass
class RunState:
    """One run while the sweep trains it: status, message, metrics, timing and how it is trained."""

    run: PlannedRun
    status: str = "queued"  # then running, and one of training.job.ENDED
    message: str = ""
    how: str = ""  # "vectorised with 3 others", "separate job", ...
    metrics: MetricsStream = field(default_factory=MetricsStream)
    metric_name: str | None = None
    started: float | None = None
    seconds: float = 0.0

    def begin(self, how: str) -> None:
        self.status, self.how, self.started = "running", how, time.monotonic()

    def end(self, status: str, message: str) -> None:
        self.status, self.message = status, message
        if self.started is not None:
            self.seconds = time.monotonic() - self.started

    def result(self) -> RunResult:
        seconds = self.seconds if self.status not in WAITING or self.started is None else \
            time.monotonic() - self.started
        return RunResult(self.run.index, self.run.label, dict(self.run.values), self.run.document,
                         self.run.parameters, self.status, self.message, self.how, tuple(self.metrics.epochs()),
                         seconds, self.metric_name)


@dataclass(frozen=True)
class RunResult:
    """A frozen copy of one run: what it varied, how it went, its epoch records."""

    index: int
    label: str
    values: dict[str, Any]
    document: Document = field(compare=False)
    parameters: int
    status: str
    message: str
    how: str
    epochs: tuple[EpochRecord, ...]
    seconds: float
    metric_name: str | None = None

    @property
    def finished(self) -> bool:
        return self.status not in WAITING

    @property
    def held_out(self) -> str | None:
        """"validation" or "test": which split the held-out curve scores (None before the first epoch)."""
        if any(r.val_loss is not None for r in self.epochs):
            return "validation"
        return "test" if any(r.test_loss is not None for r in self.epochs) else None

    def held_out_losses(self) -> list[float | None]:
        return [r.val_loss if r.val_loss is not None else r.test_loss for r in self.epochs]

    def held_out_metrics(self) -> list[float | None]:
        return [r.val_metric if r.val_metric is not None else r.test_metric for r in self.epochs]

    def best_epoch(self) -> int | None:
        """The epoch of the lowest held-out loss (the training loss without a held-out split)."""
        losses = self.held_out_losses() if self.held_out else [r.train_loss for r in self.epochs]
        finite = [(value, record.epoch) for value, record in zip(losses, self.epochs) if _finite(value)]
        return min(finite)[1] if finite else None

    def summary(self) -> dict[str, Any]:
        """The run's numbers: final and best losses and metric, best epoch, epochs, seconds."""
        if not self.epochs:
            return {"epochs": 0, "seconds": self.seconds}
        last, best = self.epochs[-1], self.best_epoch()
        held = self.held_out_losses()
        metrics = self.held_out_metrics()
        at_best = next((i for i, r in enumerate(self.epochs) if r.epoch == best), len(self.epochs) - 1)
        return {"epochs": last.epoch, "seconds": self.seconds,
                "train_loss": last.train_loss, "best_train_loss": _lowest(r.train_loss for r in self.epochs),
                "held_out_loss": held[-1], "best_held_out_loss": _lowest(held), "best_epoch": best,
                "train_metric": last.train_metric, "held_out_metric": metrics[-1],
                "held_out_metric_at_best": metrics[at_best]}


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _lowest(values) -> float | None:
    finite = [v for v in values if _finite(v)]
    return min(finite) if finite else None


class SweepProgress:
    """Every run's state, shared between the sweep's thread and whoever reads snapshots of it."""

    def __init__(self, runs: tuple[PlannedRun, ...]):
        self.states = [RunState(run) for run in runs]
        self.started = time.monotonic()

    def state(self, index: int) -> RunState:
        return self.states[index - 1]

    def results(self) -> tuple[RunResult, ...]:
        """Frozen copies of every run (each run's metrics stream copies under its own lock)."""
        return tuple(state.result() for state in self.states)

    def epochs_done(self) -> int:
        return sum(state.run.document.training["epochs"] if state.status not in WAITING
                   else len(state.metrics.epochs()) for state in self.states)

    def finished(self) -> int:
        return sum(state.status not in WAITING for state in self.states)


METRIC_LABELS = {"accuracy": "accuracy (%)", "r2": "R²"}


@dataclass(frozen=True)
class Measure:
    """A number per run a heat map can show: its title, short name, summary field and which way is better."""

    name: str
    title: str
    short: str
    field: str
    lower_is_better: bool


MEASURES: dict[str, Measure] = {m.name: m for m in (
    Measure("held_out_loss", "final held-out loss", "loss", "held_out_loss", True),
    Measure("best_held_out_loss", "best held-out loss", "loss", "best_held_out_loss", True),
    Measure("train_loss", "final training loss", "loss", "train_loss", True),
    Measure("held_out_metric", "final held-out accuracy (%) or R²", "metric", "held_out_metric", False),
)}


def measure_value(result: RunResult, measure: Measure) -> float | None:
    """The run's value of `measure` (accuracy in %), or None before it has one (or when it diverged)."""
    value = result.summary().get(measure.field)
    if value is None or not math.isfinite(value):
        return None
    return value * 100 if measure.field == "held_out_metric" and result.metric_name == "accuracy" else value


def grid_of(results: tuple[RunResult, ...], x_name: str, y_name: str,
            measure: Measure) -> tuple[list[str], list[str], list[list[float | None]]]:
    """(x value texts, y value texts, z[row][column]) of a two-setting grid, values in the sweep's order."""
    def text(name: str, result: RunResult) -> str:
        return format_value(AXES[name], result.values[name])

    x_values = list(dict.fromkeys(text(x_name, r) for r in results))
    y_values = list(dict.fromkeys(text(y_name, r) for r in results))
    z: list[list[float | None]] = [[None] * len(x_values) for _ in y_values]
    for result in results:
        z[y_values.index(text(y_name, result))][x_values.index(text(x_name, result))] = measure_value(result, measure)
    return x_values, y_values, z


def results_table(results: tuple[RunResult, ...]) -> list[dict[str, Any]]:
    """One row per run, in the lecture's terms: its settings, then final / best losses and metric."""
    held = next((r.held_out for r in results if r.held_out), None) or "held-out"
    metric = next((r.metric_name for r in results if r.metric_name), None)
    factor = 100.0 if metric == "accuracy" else 1.0
    rows = []
    for result in results:
        summary = result.summary()
        row = {"run": result.index}
        # numbers stay numbers (the table sorts them as numbers); on/off and widths as text
        row.update({AXES[name].title: value if AXES[name].kind in ("int", "float") else format_value(AXES[name], value)
                    for name, value in result.values.items()})
        row.update({"status": result.status, "epochs": summary["epochs"],
                    "train loss": summary.get("train_loss"), f"{held} loss": summary.get("held_out_loss"),
                    f"best {held} loss": summary.get("best_held_out_loss"), "best epoch": summary.get("best_epoch"),
                    "best train loss": summary.get("best_train_loss")})
        if metric:
            label = METRIC_LABELS.get(metric, metric)
            row[f"train {label}"] = _times(summary.get("train_metric"), factor)
            row[f"{held} {label}"] = _times(summary.get("held_out_metric"), factor)
            row[f"{held} {label} at best epoch"] = _times(summary.get("held_out_metric_at_best"), factor)
        row.update({"parameters": result.parameters, "seconds": round(summary["seconds"], 1), "how": result.how})
        rows.append(row)
    return rows


def _times(value: float | None, factor: float) -> float | None:
    return None if value is None or not math.isfinite(value) else value * factor
