"""Uploaded CSV files as a dataset: the document names the file by a content hash.

The bytes are kept in the server's cache folder (not in the document), so every worker process
can read them and a share link opened on the same server finds them again while they are kept.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from pathlib import Path

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError, DatasetSpec
from dlbuilder.datasets.common import clean_params
from dlbuilder.datasets.csv_data import CSV_PARAMS, load_csv
from dlbuilder.datasets.csv_read import MAX_BYTES
from dlbuilder.datasets.idx import cache_dir
from dlbuilder.params import Param

UPLOADED_DATASETS = frozenset({"csv"})  # entries that read a file the student uploaded
KEEP_FILES = 200  # the oldest uploads beyond this are deleted
KEY_PATTERN = re.compile(r"^[0-9a-f]{24}$")
UPLOAD_PARAMS = (Param("file", "str", "", "The uploaded file (set by uploading; not edited by hand).",
                       max_length=24),) + CSV_PARAMS


def upload_folder() -> Path:
    return cache_dir() / "uploads"


def store_upload(data: bytes) -> str:
    """Keep uploaded CSV bytes; return the key a document uses to name them."""
    if len(data) > MAX_BYTES:
        raise DatasetError(f"the file is {len(data):,} bytes; at most {MAX_BYTES:,} are allowed")
    key = hashlib.sha256(data).hexdigest()[:24]
    folder = upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.csv"
    if not path.exists():
        temporary = path.with_suffix(".part")
        temporary.write_bytes(data)
        temporary.replace(path)
        _prune(folder)
    return key


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("*.csv"), key=lambda p: p.stat().st_mtime)
    for old in files[:-KEEP_FILES]:
        old.unlink(missing_ok=True)


def _read(key: str) -> bytes:
    if not KEY_PATTERN.match(key or ""):
        raise DatasetError("no CSV file is uploaded yet: upload one (Data panel, 'Your own CSV file')")
    path = upload_folder() / f"{key}.csv"
    if not path.exists():
        raise DatasetError("this CSV file is no longer on the server: upload it again")
    return path.read_bytes()


@lru_cache(maxsize=16)
def _load(key: str, target: str, task: str, train_fraction: float, val_fraction: float,
          seed: int) -> DatasetBundle:
    params = {"target": target, "task": task, "train_fraction": train_fraction, "val_fraction": val_fraction}
    return load_csv(_read(key), params, seed)


def load_uploaded(params: dict, seed: int) -> DatasetBundle:
    """The uploaded file as a dataset (parsed once per settings and kept)."""
    p = clean_params(UPLOAD_PARAMS, params)
    return _load(p["file"], p["target"], p["task"], p["train_fraction"], p["val_fraction"], seed)


def describe_uploaded(params: dict) -> DataInfo:
    return load_uploaded(params, 0).info


CSV_DATASET = DatasetSpec(
    name="csv", title="Your own CSV file", category="your data",
    doc="A table you upload: numeric feature columns and one column to predict.",
    params=UPLOAD_PARAMS, describe=describe_uploaded, load=load_uploaded)
