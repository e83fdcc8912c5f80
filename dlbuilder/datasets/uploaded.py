"""Uploaded CSV files as a dataset: the document names the file by a content hash.

The bytes are kept in the server's cache folder (not in the document), so every worker process
can read them and a share link opened on the same server finds them again while they are kept.

The store cannot be filled with junk or used to push other people's files out: a file is kept
only once it parses into a dataset; each session (an opaque owner key from the UI) keeps at most
MAX_FILES_PER_OWNER files, its new upload replacing its own oldest; when the whole store is full a
new upload is refused instead of evicting anyone's file, and files unused for KEEP_SECONDS expire.
Files and folders are readable by the server's user only.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
from functools import lru_cache
from pathlib import Path

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError, DatasetSpec
from dlbuilder.datasets.common import clean_params
from dlbuilder.datasets.csv_data import CSV_PARAMS, load_csv
from dlbuilder.datasets.csv_read import MAX_BYTES
from dlbuilder.datasets.idx import cache_dir
from dlbuilder.params import Param

UPLOADED_DATASETS = frozenset({"csv"})  # entries that read a file the student uploaded
MAX_FILES_PER_OWNER = 3  # a session's 4th upload replaces its own oldest
MAX_FILES = 200  # all sessions together; beyond this new uploads are refused
MAX_STORE_BYTES = 200 * 1024 * 1024
KEEP_SECONDS = 24 * 3600  # a file neither uploaded nor read for this long is deleted
KEY_PATTERN = re.compile(r"[0-9a-f]{24}")
UPLOAD_PARAMS = (Param("file", "str", "", "The uploaded file (set by uploading; not edited by hand).",
                       max_length=24),) + CSV_PARAMS
CSV_SETTINGS = frozenset(p.name for p in CSV_PARAMS)
_LOCK = threading.Lock()  # sessions are threads of one server process


def upload_folder() -> Path:
    return cache_dir() / "uploads"


def _private_folder(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # also when an older version made it with the default mode
    return path


def _owner_folder(owner: str) -> Path:
    # the owner key is opaque (maybe a session id): hashed, it is never part of a path
    return upload_folder() / hashlib.sha256(owner.encode()).hexdigest()[:24]


def store_upload(data: bytes, owner: str = "local", params: dict | None = None) -> str:
    """Check that CSV bytes make a dataset (with `params`), keep them for `owner`; return their key."""
    if len(data) > MAX_BYTES:
        raise DatasetError(f"the file is {len(data):,} bytes; at most {MAX_BYTES:,} are allowed")
    key = hashlib.sha256(data).hexdigest()[:24]
    path = _owner_folder(owner) / f"{key}.csv"
    if _touch(path):
        return key  # checked when it was stored
    settings = {name: value for name, value in (params or {}).items() if name in CSV_SETTINGS}
    load_csv(bytes(data), settings, 0)  # raises DatasetError saying what to fix; nothing is kept yet
    with _LOCK:
        _private_folder(upload_folder())
        _expire_old_files()
        _private_folder(path.parent)
        own = sorted((p for p in path.parent.glob("*.csv") if p != path), key=_modified)
        replaced = own[:max(0, len(own) - MAX_FILES_PER_OWNER + 1)]
        _check_room(len(data), replaced)
        for old in replaced:
            old.unlink(missing_ok=True)
        _write_private(path, data)
    return key


def _touch(path: Path) -> bool:
    """Mark a stored file as used now (so it does not expire); False if it is not there."""
    try:
        os.utime(path)
        return True
    except OSError:
        return False


def _modified(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _stored_files() -> list[Path]:
    return list(upload_folder().glob("*/*.csv"))


def _expire_old_files() -> None:
    cutoff = time.time_ns() - KEEP_SECONDS * 10**9
    for path in _stored_files():
        if _modified(path) < cutoff:
            path.unlink(missing_ok=True)
    for folder in upload_folder().iterdir():
        if folder.is_dir() and not any(folder.iterdir()):
            try:
                folder.rmdir()  # a session's folder, once its files have expired
            except OSError:
                pass


def _check_room(size: int, replaced: list[Path]) -> None:
    """Refuse (never evict others) when the store would pass its file count or byte limit."""
    kept = [p for p in _stored_files() if p not in replaced]
    stored_bytes = sum(p.stat().st_size for p in kept if p.exists())
    if len(kept) + 1 > MAX_FILES or stored_bytes + size > MAX_STORE_BYTES:
        raise DatasetError(f"the server's upload space is full ({len(kept)} files, {stored_bytes / 1e6:.0f} MB): "
                           f"try again later (files unused for {KEEP_SECONDS // 3600} hours are removed), "
                           "or ask your teacher to make room")


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` atomically, created with mode 0600 (no moment where others can read it)."""
    temporary = path.with_name(f".{secrets.token_hex(8)}.part")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_upload(key: str) -> bytes:
    """The stored bytes of upload `key` (DatasetError, saying what to do, when it is not here)."""
    if not KEY_PATTERN.fullmatch(key or ""):
        raise DatasetError("no CSV file is uploaded yet: upload one (Data panel, 'Your own CSV file')")
    for path in upload_folder().glob(f"*/{key}.csv"):
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # replaced or expired just now
            continue
        _touch(path)
        return data
    raise DatasetError("this CSV file is no longer on the server: upload it again")


@lru_cache(maxsize=16)
def _load(key: str, target: str, task: str, train_fraction: float, val_fraction: float,
          seed: int) -> DatasetBundle:
    params = {"target": target, "task": task, "train_fraction": train_fraction, "val_fraction": val_fraction}
    return load_csv(read_upload(key), params, seed)


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
