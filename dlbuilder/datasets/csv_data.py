"""Your own data: a CSV file becomes a classification or regression dataset.

Not an entry of DATASETS, because it needs the file's bytes: the UI calls
`dataset_from_csv(data, ...)` (or `load_csv(data, params, seed)` with `CSV_PARAMS`).
Inputs are standardised with the training part's mean and std; a regression target too
(undo with extras["scale"]: value * factor + offset).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError
from dlbuilder.datasets.common import clean_params, make_bundle, split_indices, train_fraction_param, val_fraction_param
from dlbuilder.datasets.csv_read import decode_text, read_table, sniff_delimiter
from dlbuilder.params import Param

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
AUTO_MAX_CLASSES = 20  # an integer target with at most this many values is taken as classes
MAX_CLASSES = 100

CSV_PARAMS = (
    Param("target", "str", "", "column to predict (empty: the last column)"),
    Param("task", "choice", "auto", "classification, regression, or auto: guess from the target",
          choices=("auto", "classification", "regression")),
    train_fraction_param(0.8),
    val_fraction_param(0.1),
)


def short(text: str, limit: int = 40) -> str:
    """`text` quoted for a message, cut to `limit` characters (a cell or a header may be huge)."""
    text = str(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _row_list(rows: np.ndarray, cells: pd.Series | None = None) -> str:
    """'row 3, row 7 ...' (row 1 = first line after the header), with the cell text if given."""
    shown = [f"row {r + 1}" + (f" {short(cells.iloc[r])}" if cells is not None else "")
             for r in rows[:3]]
    return ", ".join(shown) + (", ..." if len(rows) > 3 else "")


def _check_missing(table: pd.DataFrame) -> None:
    problems = []
    for name in table.columns:
        rows = np.flatnonzero(table[name].str.lower().isin(MISSING_TOKENS))
        if len(rows):
            problems.append(f"column {short(name)} has {len(rows)} empty cells ({_row_list(rows)})")
    if problems:
        raise DatasetError("missing values: " + "; ".join(problems[:5])
                           + ". Fill them in or delete those rows")


def to_numbers(column: pd.Series, delimiter: str) -> tuple[np.ndarray, np.ndarray]:
    """Cells as floats (true/false as 1/0) and a mask of cells that are not finite numbers."""
    text = column if delimiter == "," else column.str.replace(",", ".", regex=False)
    values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    lowered = column.str.lower().to_numpy()
    values = np.where(lowered == "true", 1.0, np.where(lowered == "false", 0.0, values))
    return values, ~np.isfinite(values)


def numeric_features(table: pd.DataFrame, names: list[str], delimiter: str) -> np.ndarray:
    """The input columns as floats (N, F); the error names cells that are not numbers."""
    columns, problems = [], []
    for name in names:
        values, bad = to_numbers(table[name], delimiter)
        if bad.any():
            rows = np.flatnonzero(bad)
            problems.append(f"column {short(name)} is not numeric ({_row_list(rows, table[name])})")
        columns.append(values)
    if problems:
        raise DatasetError("; ".join(problems[:3]) + ". Inputs must be numbers: remove these "
                           "columns or turn categories into 0/1 columns")
    return np.stack(columns, axis=1)


def _infer_task(values: np.ndarray, numeric: bool) -> str:
    if not numeric:
        return "classification"
    integral = bool(np.all(values == np.round(values)))
    few = len(np.unique(values)) <= AUTO_MAX_CLASSES
    return "classification" if integral and few else "regression"


def encode_target(column: pd.Series, task: str, delimiter: str
                  ) -> tuple[str, np.ndarray, tuple[str, ...]]:
    """(task, y, class names): class indices for classification, floats for regression."""
    values, bad = to_numbers(column, delimiter)
    lowered = column.str.lower()
    is_bool = bool(lowered.isin(["true", "false"]).all())
    numeric = not bad.any()
    task = _infer_task(values, numeric) if task == "auto" else task
    if task == "regression":
        if not numeric:
            raise DatasetError(f"target {short(column.name)} is not numeric "
                               f"({_row_list(np.flatnonzero(bad), column)}), so it cannot be "
                               "a regression target: choose classification")
        return task, values, ()
    as_text = is_bool or not numeric  # true/false keep their names, case ignored
    keys = (lowered if is_bool else column).to_numpy(dtype=str) if as_text else values
    classes = np.unique(keys)  # sorted: numbers numerically, text alphabetically
    names = tuple(str(c) if as_text else f"{c:g}" for c in classes)
    if len(classes) < 2:
        raise DatasetError(f"target {short(column.name)} has only one value ({short(names[0])}); "
                           "classification needs at least two classes")
    if len(classes) > MAX_CLASSES:
        raise DatasetError(f"target {short(column.name)} has {len(classes)} different values; at most "
                           f"{MAX_CLASSES} classes are allowed: choose regression")
    return task, np.searchsorted(classes, keys), names


def _pick_target(table: pd.DataFrame, target: str) -> str:
    if not target:
        return str(table.columns[-1])
    if target not in table.columns:
        available = ", ".join(short(c) for c in table.columns[:30])
        raise DatasetError(f"there is no column {short(target)}; available columns: {available}")
    return target


def _standardize(x: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x scaled, mean, std) with mean and std of the training rows; constant columns keep std 1."""
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    return (x - mean) / std, mean, std


def dataset_from_csv(data: bytes, target: str | None = None, task: str = "auto", seed: int = 0,
                     train_fraction: float = 0.8, val_fraction: float = 0.1) -> DatasetBundle:
    """Build a dataset from CSV bytes; raises DatasetError saying what to fix in the file."""
    p = clean_params(CSV_PARAMS, {"target": target or "", "task": task,
                                  "train_fraction": train_fraction, "val_fraction": val_fraction})
    text = decode_text(data)
    delimiter = sniff_delimiter(text)
    table = read_table(text, delimiter)
    target_name = _pick_target(table, p["target"])
    _check_missing(table)
    feature_names = [name for name in table.columns if name != target_name]
    x = numeric_features(table, feature_names, delimiter)
    task_name, y, class_names = encode_target(table[target_name], p["task"], delimiter)
    classification = task_name == "classification"
    parts = split_indices(len(y), np.random.default_rng(seed), p["train_fraction"],
                          p["val_fraction"], y if classification else None)
    x, mean, std = _standardize(x, parts[0])
    extras = {"target_name": target_name, "delimiter": delimiter,
              "feature_mean": mean.tolist(), "feature_std": std.tolist()}
    if not classification:
        scaled, offset, factor = _standardize(y[:, None], parts[0])
        y = scaled[:, 0]
        extras["scale"] = {"offset": float(offset[0]), "factor": float(factor[0]),
                           "unit": target_name}
    info = DataInfo(input_shape=(len(feature_names),), task=task_name,
                    num_classes=len(class_names), class_names=class_names,
                    feature_names=tuple(feature_names), display="table")
    return make_bundle(info, x, y, parts, extras)


def load_csv(data: bytes, params: dict, seed: int) -> DatasetBundle:
    """`dataset_from_csv` with settings given as a dict checked against CSV_PARAMS."""
    p = clean_params(CSV_PARAMS, params)
    return dataset_from_csv(data, target=p["target"] or None, task=p["task"], seed=seed,
                            train_fraction=p["train_fraction"], val_fraction=p["val_fraction"])
