"""IDX reader, cache and downloader, and MNIST loading from tiny local files (never the network)."""

from __future__ import annotations

import gzip
import io
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dlbuilder.datasets import DATASETS, DatasetError, idx
from dlbuilder.datasets.mnist import IDX_FILES, SOURCES


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder; downloads are blocked and recorded."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("DLBUILDER_CACHE", str(folder))
    attempts = []

    def no_network(url, destination, timeout=0):
        attempts.append(url)
        raise OSError("network blocked in tests")

    monkeypatch.setattr(idx, "download_file", no_network)
    return SimpleNamespace(path=folder, attempts=attempts)


def write_mnist_like(folder, n_train=40, n_test=25, side=28):
    """Tiny files: image k of a part is filled with the value k (mod 256); labels cycle 0-9."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, count in (("train", n_train), ("test", n_test)):
        images = np.broadcast_to((np.arange(count) % 256).astype(np.uint8)[:, None, None],
                                 (count, side, side))
        idx.write_idx(folder / IDX_FILES[part][0], np.ascontiguousarray(images))
        idx.write_idx(folder / IDX_FILES[part][1], (np.arange(count) % 10).astype(np.uint8))


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("filename", ["a.idx", "a.idx.gz"])
def test_write_then_read_round_trip(tmp_path, dtype, filename):
    array = (np.arange(60).reshape(3, 4, 5) - 7).astype(dtype)
    idx.write_idx(tmp_path / filename, array)
    path = tmp_path / filename
    for source in (path, path.read_bytes(), str(path)):
        back = idx.read_idx(source)
        assert back.dtype == np.dtype(dtype) and np.array_equal(back, array)


def test_reads_a_hand_made_header():
    raw = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    assert idx.read_idx(raw).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert idx.read_idx(gzip.compress(raw)).shape == (2, 3)


@pytest.mark.parametrize("raw, words", [
    (b"", "magic number"),
    (b"PK\x03\x04 not idx", "magic number"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "data type code 0x07"),
    (bytes([0, 0, 0x08, 3, 0, 0, 0, 1]), "cut off"),
    (bytes([0, 0, 0x08, 1, 0, 0, 0, 5, 1, 2]), "need 5 bytes of data but it has 2"),
    (bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 1, 2, 3, 4, 5]), "need 4 bytes of data but it has 5"),
    (b"\x1f\x8b\x08\x00garbage", "damaged gzip"),
])
def test_corrupt_files_give_clear_errors(raw, words):
    with pytest.raises(DatasetError, match=words):
        idx.read_idx(raw)


def test_truncated_gzip_is_a_dataset_error(tmp_path):
    path = tmp_path / "x.gz"
    idx.write_idx(path, np.zeros((50, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetError, match="damaged gzip"):
        idx.read_idx(path)


def test_missing_path_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        idx.read_idx(tmp_path / "nothing.gz")


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DLBUILDER_CACHE", str(tmp_path))
    assert idx.cache_dir() == tmp_path
    monkeypatch.delenv("DLBUILDER_CACHE")
    assert idx.cache_dir().parts[-2:] == (".cache", "dlbuilder")


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_loads_from_tiny_files_in_the_cache(cache, name):
    write_mnist_like(cache.path / SOURCES[name].folder)
    bundle = DATASETS[name].load({"max_train": 100, "val_fraction": 0.25}, seed=1)
    assert (len(bundle.x_train), len(bundle.x_val), len(bundle.x_test)) == (30, 10, 25)
    assert bundle.x_train.shape[1:] == (1, 28, 28) and bundle.x_train.dtype == torch.float32
    # every image holds its own index as value: the labels must travel with their images
    train_values = (bundle.x_train[:, 0, 0, 0] * 255).round().long()
    assert torch.equal(train_values % 10, bundle.y_train)
    assert torch.equal((bundle.x_test[:, 0, 0, 0] * 255).round().long(), torch.arange(25))
    assert bundle.x_train.max() <= 1 and cache.attempts == []


def test_max_train_and_max_test_limit_the_examples(cache):
    write_mnist_like(cache.path / "mnist", n_train=250, n_test=150)
    bundle = DATASETS["mnist"].load({"max_train": 120, "max_test": 100, "val_fraction": 0}, 0)
    assert (len(bundle.x_train), len(bundle.x_val), len(bundle.x_test)) == (120, 0, 100)
    values = (bundle.x_train[:, 0, 0, 0] * 255).round().long()
    assert len(set(values.tolist())) == 120  # no image used twice


def test_unzipped_files_in_the_cache_are_used(cache):
    folder = cache.path / "mnist"
    write_mnist_like(folder)
    for name in (n for pair in IDX_FILES.values() for n in pair):
        unzipped = gzip.decompress((folder / name).read_bytes())
        (folder / name.removesuffix(".gz")).write_bytes(unzipped)
        (folder / name).unlink()
    assert len(DATASETS["mnist"].load({}, 0).x_test) == 25


def test_offline_without_files_says_what_to_do(cache):
    with pytest.raises(DatasetError) as error:
        DATASETS["mnist"].load({}, 0)
    message = str(error.value)
    for words in ("no internet access", "'digits'", "'shapes'", str(cache.path / "mnist"),
                  "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert words in message
    assert cache.attempts and all(url.startswith("http") for url in cache.attempts)


def test_describe_needs_no_files(cache):
    info = DATASETS["fashion_mnist"].describe({})
    assert info.input_shape == (1, 28, 28) and info.class_names[-1] == "Ankle boot"


def test_corrupt_cached_file_is_a_dataset_error(cache):
    write_mnist_like(cache.path / "mnist")
    labels_file = cache.path / "mnist" / IDX_FILES["test"][1]
    labels_file.write_bytes(gzip.compress(b"\x00\x00\x08\x01junk"))
    with pytest.raises(DatasetError, match="not a valid IDX file"):
        DATASETS["mnist"].load({}, 0)


def test_wrong_image_size_is_a_dataset_error(cache):
    write_mnist_like(cache.path / "mnist", side=10)
    with pytest.raises(DatasetError, match="not 28x28"):
        DATASETS["mnist"].load({}, 0)


class FakeAnswer(io.BytesIO):
    """Stands in for urlopen's answer (a readable context manager)."""


def test_download_writes_atomically(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeAnswer(b"x" * 3000))
    target = tmp_path / "sub" / "file.gz"
    idx.download_file("https://example.invalid/file.gz", target)
    assert target.read_bytes() == b"x" * 3000
    assert [p.name for p in target.parent.iterdir()] == ["file.gz"]


def test_failed_download_leaves_nothing_behind(tmp_path, monkeypatch):
    class Broken(FakeAnswer):
        def read(self, size=-1):
            raise TimeoutError("read timed out")

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Broken(b""))
    with pytest.raises(TimeoutError):
        idx.download_file("https://example.invalid/file.gz", tmp_path / "file.gz")
    assert list(tmp_path.iterdir()) == []
