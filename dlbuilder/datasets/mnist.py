"""MNIST and Fashion-MNIST, downloaded on first use into the cache folder (see idx.cache_dir)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlbuilder.datasets import idx
from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError, DatasetSpec
from dlbuilder.datasets.common import clean_params, make_bundle, split_indices, val_fraction_param
from dlbuilder.params import Param

# part -> (images file, labels file), the names used by every mirror
IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
SIDE = 28


@dataclass(frozen=True)
class IdxSource:
    """Where one MNIST-format dataset lives: cache folder, mirrors, class names."""

    title: str
    folder: str
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]


SOURCES = {
    "mnist": IdxSource(
        "MNIST", "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        tuple(str(d) for d in range(10))),
    "fashion_mnist": IdxSource(
        "Fashion-MNIST", "fashion_mnist",
        ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
}

MNIST_PARAMS = (
    Param("max_train", "int", 10000, "use at most this many of the 60,000 training images",
          min=100, max=60000),
    Param("max_test", "int", 2000, "use at most this many of the 10,000 test images",
          min=100, max=10000),
    val_fraction_param(0.2),
)


def offline_hint(source: IdxSource) -> str:
    """What to do without internet: another dataset, or where to put the files by hand."""
    names = ", ".join(name for pair in IDX_FILES.values() for name in pair)
    return (f"Pick the built-in 'digits' or 'shapes' dataset instead, or place the {source.title} "
            f"files {names} into {idx.cache_dir() / source.folder} "
            f"(they are at {source.mirrors[0]}).")


def read_part(source: IdxSource, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) of the 'train' or 'test' part, checked."""
    paths = [idx.cached_file(source.folder, name, source.mirrors, offline_hint(source))
             for name in IDX_FILES[part]]
    images, labels = (idx.read_idx(path) for path in paths)
    fix = f"delete {paths[0].parent} so the files are downloaded again"
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
        raise DatasetError(f"{paths[0]} holds {images.dtype} data of shape {images.shape}, "
                           f"not 28x28 bytes; {fix}")
    if labels.shape != (len(images),) or labels.size == 0 or labels.max() >= 10:
        raise DatasetError(f"{paths[1]} does not hold one label 0-9 per image of {paths[0]}; {fix}")
    return images, labels.astype(np.int64)


def _make_spec(name: str, source: IdxSource) -> DatasetSpec:
    def describe(params: dict) -> DataInfo:
        clean_params(MNIST_PARAMS, params)
        return DataInfo(input_shape=(1, SIDE, SIDE), task="classification", num_classes=10,
                        class_names=source.class_names, display="image")

    def load(params: dict, seed: int) -> DatasetBundle:
        info = describe(params)
        p = clean_params(MNIST_PARAMS, params)
        rng = np.random.default_rng(seed)
        train_images, train_labels = read_part(source, "train")
        test_images, test_labels = read_part(source, "test")
        keep_train = rng.permutation(len(train_labels))[:p["max_train"]]
        keep_test = np.sort(rng.permutation(len(test_labels))[:p["max_test"]])
        train, val, _ = split_indices(len(keep_train), rng, 1.0, p["val_fraction"],
                                      train_labels[keep_train])
        images = np.concatenate([train_images[keep_train], test_images[keep_test]])
        labels = np.concatenate([train_labels[keep_train], test_labels[keep_test]])
        test = np.arange(len(keep_train), len(labels))
        x = images[:, None].astype(np.float32) / 255.0  # (N, 1, 28, 28) in [0, 1]
        extras = {"image_size": SIDE, "value_range": (0.0, 1.0)}
        return make_bundle(info, x, labels, (train, val, test), extras)

    doc = (f"{source.title}: 28x28 grey images, ten classes; downloaded once into the cache "
           "folder (needs internet the first time).")
    return DatasetSpec(name=name, title=source.title, category="images", doc=doc,
                       params=MNIST_PARAMS, describe=describe, load=load)


MNIST_SETS: dict[str, DatasetSpec] = {name: _make_spec(name, source)
                                      for name, source in SOURCES.items()}
NETWORK_DATASETS = frozenset(MNIST_SETS)  # need files from the internet or the cache
