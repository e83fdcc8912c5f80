"""IDX files (the MNIST format): a careful reader, the cache folder and an atomic downloader."""

from __future__ import annotations

import gzip
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from dlbuilder.datasets.base import DatasetError

# IDX type byte -> big-endian numpy dtype
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
TIMEOUT_S = 30


def read_idx(source: str | os.PathLike | bytes) -> np.ndarray:
    """Read an IDX file (gzip-compressed or not) from a path or bytes into a numpy array."""
    name = "the data" if isinstance(source, (bytes, bytearray)) else str(source)
    raw = bytes(source) if isinstance(source, (bytes, bytearray)) else _read_bytes(Path(source))
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise DatasetError(f"{name} is a damaged gzip file ({error}); "
                               "delete it so it is downloaded again") from None
    return _parse_idx(raw, name)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error.strerror or error}") from None


def _parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Check the header (magic, type, dims) and that the size matches, then decode."""
    damaged = f"{name} is not a valid IDX file"
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise DatasetError(f"{damaged}: it does not start with the IDX magic number")
    type_code, ndim = raw[2], raw[3]
    if type_code not in IDX_DTYPES:
        raise DatasetError(f"{damaged}: unknown data type code 0x{type_code:02x}")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DatasetError(f"{damaged}: the header with {ndim} dimensions is cut off")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[type_code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    payload = len(raw) - 4 - 4 * ndim
    if payload != expected:
        raise DatasetError(f"{damaged}: dimensions {dims} need {expected} bytes of data "
                           f"but it has {payload} (truncated or damaged download?)")
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as an IDX file, gzip-compressed when the name ends in .gz."""
    codes = {np.dtype(name).newbyteorder("="): code for code, name in IDX_DTYPES.items()}
    array = np.asarray(array)
    if array.dtype not in codes or not 0 < array.ndim < 256:
        raise ValueError(f"IDX cannot store {array.dtype} arrays with {array.ndim} dimensions")
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.array(array.shape, ">u4").tobytes()
    raw = header + array.astype(IDX_DTYPES[codes[array.dtype]]).tobytes()
    Path(path).write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)


def cache_dir() -> Path:
    """Where downloads are kept: $DLBUILDER_CACHE, else ~/.cache/dlbuilder."""
    configured = os.environ.get("DLBUILDER_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "dlbuilder"


def download_file(url: str, destination: Path, timeout: float = TIMEOUT_S) -> None:
    """Download `url` to `destination` atomically (temp file + rename); raise OSError on failure."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=destination.name,
                                         suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as answer:
            total = 0
            while chunk := answer.read(1 << 20):
                total += len(chunk)
                if total > MAX_DOWNLOAD_BYTES:
                    raise OSError(f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes")
                out.write(chunk)
        os.replace(temp_name, destination)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def cached_file(folder: str, filename: str, mirrors: tuple[str, ...], offline_hint: str) -> Path:
    """Path of `filename` in the cache (also found unzipped), downloaded if missing."""
    target = cache_dir() / folder
    for candidate in (target / filename, target / filename.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    failures = []
    for mirror in mirrors:
        try:
            download_file(mirror + filename, target / filename)
            return target / filename
        except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
            failures.append(f"{mirror}: {error}")
    raise DatasetError(f"could not download {filename}: this machine seems to have no internet "
                       f"access ({'; '.join(failures) or 'no mirror'}). {offline_hint}")
