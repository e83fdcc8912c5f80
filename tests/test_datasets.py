"""Every entry of DATASETS: shapes, dtypes, determinism, splits, labels, noise; per-set facts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlbuilder.datasets import DATASETS, NETWORK_DATASETS, UPLOADED_DATASETS, DatasetError, idx, playground_features
from dlbuilder.datasets.common import split_indices, split_sizes
from dlbuilder.datasets.mnist import IDX_FILES, SOURCES
from dlbuilder.datasets.regression import gaussian_bumps

NAMES = sorted(set(DATASETS) - UPLOADED_DATASETS)  # csv needs an upload: tests/test_uploaded.py
CLASSIFICATION_SETS = [n for n in NAMES if DATASETS[n].describe({}).task == "classification"]
POINT_SETS = [n for n in NAMES if "x_times_y" in {p.name for p in DATASETS[n].params}]


def write_tiny_idx_set(folder, n_train: int = 30, n_test: int = 20) -> None:
    """Tiny MNIST-format files: image k is filled with 10 * label + k % 7; labels cycle 0-9."""
    folder.mkdir(parents=True, exist_ok=True)
    for part, count in (("train", n_train), ("test", n_test)):
        labels = (np.arange(count) % 10).astype(np.uint8)
        fill = 10 * labels + np.arange(count) % 7 + (100 if part == "test" else 0)
        images = np.broadcast_to(fill[:, None, None], (count, 28, 28)).astype(np.uint8)
        images_name, labels_name = IDX_FILES[part]
        idx.write_idx(folder / images_name, images)
        idx.write_idx(folder / labels_name, labels)


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """A cache with tiny MNIST-format files; downloads fail (tests never use the network)."""
    monkeypatch.setenv("DLBUILDER_CACHE", str(tmp_path / "cache"))

    def no_network(url, destination, timeout=0):
        raise OSError("network blocked in tests")

    monkeypatch.setattr(idx, "download_file", no_network)
    for source in SOURCES.values():
        write_tiny_idx_set(tmp_path / "cache" / source.folder)


def load(name: str, seed: int = 0, **params):
    return DATASETS[name].load(params, seed)


def param_names(name: str) -> set[str]:
    return {p.name for p in DATASETS[name].params}


def parts(bundle):
    return [(bundle.x_train, bundle.y_train), (bundle.x_val, bundle.y_val),
            (bundle.x_test, bundle.y_test)]


@pytest.mark.parametrize("name", NAMES)
def test_describe_equals_loaded_info(name):
    spec = DATASETS[name]
    assert spec.name == name
    assert spec.describe({}) == spec.load({}, 0).info


@pytest.mark.parametrize("name", NAMES)
def test_tensors_match_info(name):
    bundle = load(name)
    info = bundle.info
    for x, y in parts(bundle):
        assert x.dtype == (torch.int64 if info.input_dtype == "long" else torch.float32)
        assert tuple(x.shape[1:]) == info.input_shape
        assert len(y) == len(x) and (x.dtype == torch.int64 or torch.isfinite(x).all())
        if info.target_steps:  # one class per time step: tests/test_sequence_datasets.py
            assert y.dtype == torch.int64 and tuple(y.shape[1:]) == (info.target_steps,)
        elif info.task == "classification":
            assert y.dtype == torch.int64 and y.dim() == 1
        else:
            assert y.dtype == torch.float32 and tuple(y.shape[1:]) == (info.num_targets,)
            assert torch.isfinite(y).all()
    assert len(bundle.x_train) > 0 and len(bundle.x_test) > 0
    if info.feature_names:
        assert len(info.feature_names) == math.prod(info.input_shape)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_data_other_seed_other_data(name):
    first, again, other = load(name, seed=3), load(name, seed=3), load(name, seed=4)
    for (x1, y1), (x2, y2) in zip(parts(first), parts(again)):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(first.x_train, other.x_train)


@pytest.mark.parametrize("name", [n for n in CLASSIFICATION_SETS if not DATASETS[n].describe({}).target_steps])
def test_classes_in_range_and_all_present_in_training(name):
    bundle = load(name)
    info = bundle.info
    assert len(info.class_names) == info.num_classes >= 2
    for _, y in parts(bundle):
        assert y.numel() == 0 or (0 <= y.min() and y.max() < info.num_classes)
    assert set(bundle.y_train.tolist()) == set(range(info.num_classes))


@pytest.mark.parametrize("name", [n for n in NAMES if "train_fraction" in param_names(n)])
@pytest.mark.parametrize("train_fraction, val_fraction", [(0.3, 0.0), (0.7, 0.25)])
def test_split_sizes_follow_fractions(name, train_fraction, val_fraction):
    bundle = load(name, train_fraction=train_fraction, val_fraction=val_fraction)
    n_train, n_val, n_test = (len(x) for x, _ in parts(bundle))
    total = n_train + n_val + n_test
    assert abs(n_test - total * (1 - train_fraction)) <= 1
    assert abs(n_val - (n_train + n_val) * val_fraction) <= 1
    if val_fraction == 0:
        assert tuple(bundle.x_val.shape) == (0, *bundle.info.input_shape)
        assert bundle.y_val.shape[0] == 0


@pytest.mark.parametrize("name", [n for n in NAMES if "num_samples" in param_names(n)])
def test_num_samples_is_the_total(name):
    bundle = load(name, num_samples=250)
    assert sum(len(x) for x, _ in parts(bundle)) == 250


@pytest.mark.parametrize("name", [n for n in NAMES if "noise" in param_names(n)])
def test_noise_changes_the_data(name):
    calm, noisy = load(name, noise=0), load(name, noise=40)
    same_x = torch.equal(calm.x_train, noisy.x_train)
    assert not (same_x and torch.equal(calm.y_train, noisy.y_train))


@pytest.mark.parametrize("name", NAMES)
def test_bad_settings_are_dataset_errors(name):
    with pytest.raises(DatasetError, match="unknown setting 'colour'"):
        DATASETS[name].describe({"colour": 1})
    first = DATASETS[name].params[0]
    wrong = "text" if first.kind != "str" else 5
    with pytest.raises(DatasetError, match=first.name):
        DATASETS[name].load({first.name: wrong}, 0)


def test_network_datasets_are_marked():
    assert NETWORK_DATASETS == {"mnist", "fashion_mnist"}


@pytest.mark.parametrize("name", POINT_SETS)
def test_playground_features_are_chosen_columns_in_fixed_order(name):
    settings = {"x": False, "y": True, "x_times_y": True, "sin_x": True}
    bundle = load(name, **settings)
    assert bundle.info.feature_names == ("y", "x·y", "sin(x)")
    points = bundle.extras["points_train"]
    assert torch.equal(bundle.x_train[:, 0], points[:, 1])
    assert torch.equal(bundle.x_train[:, 1], points[:, 0] * points[:, 1])
    assert torch.allclose(bundle.x_train[:, 2], torch.sin(points[:, 0]))
    assert torch.equal(playground_features(points, settings), bundle.x_train)


def test_no_feature_switched_on_is_an_error():
    with pytest.raises(DatasetError, match="at least one"):
        DATASETS["circle"].describe({"x": False, "y": False})
    with pytest.raises(DatasetError, match="at least one"):
        playground_features(torch.zeros(3, 2), {"x": False, "y": False})


def test_playground_features_on_a_grid_default_is_x_and_y():
    grid = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])
    assert torch.equal(playground_features(grid, {}), grid)
    only_squares = {"x": False, "y": False, "x_squared": True, "y_squared": True}
    squares = playground_features(grid, only_squares)
    assert torch.equal(squares, grid ** 2)


def all_points(bundle):
    points = torch.cat([bundle.extras[f"points_{p}"] for p in ("train", "val", "test")]).numpy()
    labels = torch.cat([bundle.y_train, bundle.y_val, bundle.y_test]).numpy()
    return points, labels


def test_circle_without_noise_inside_is_class_one():
    points, labels = all_points(load("circle", noise=0))
    radius = np.linalg.norm(points, axis=1)
    assert np.all(radius[labels == 1] <= 2.5) and np.all(radius[labels == 0] >= 3.5)
    assert np.all(np.abs(points) <= 6)


def test_xor_without_noise_labels_by_sign():
    points, labels = all_points(load("xor", noise=0))
    assert np.array_equal(labels, (points[:, 0] * points[:, 1] >= 0).astype(int))
    assert np.all(np.abs(points) >= 0.3)


def test_two_gaussians_are_centred_at_plus_minus_two():
    points, labels = all_points(load("gaussian", noise=0, num_samples=2000))
    assert np.allclose(points[labels == 1].mean(axis=0), [2, 2], atol=0.1)
    assert np.allclose(points[labels == 0].mean(axis=0), [-2, -2], atol=0.1)


def test_spiral_without_noise_arms_are_half_a_turn_apart():
    points, labels = all_points(load("spiral", noise=0))
    arm_a = points[labels == 1]
    assert np.linalg.norm(points, axis=1).max() < 5.0
    assert np.allclose(np.sort(np.linalg.norm(arm_a, axis=1)), np.arange(250) / 250 * 5, atol=1e-5)


@pytest.mark.parametrize("name", ["blobs", "spiral_arms"])
def test_multi_class_sets_follow_num_classes(name):
    bundle = load(name, num_classes=5)
    assert bundle.info.num_classes == 5 and len(bundle.info.class_names) == 5
    assert set(bundle.y_train.tolist()) == set(range(5))


def test_plane_without_noise_is_x_plus_y_over_ten():
    bundle = load("plane", noise=0)
    points = bundle.extras["points_train"]
    assert torch.allclose(bundle.y_train[:, 0], points.sum(dim=1) / 10, atol=1e-6)


def test_multi_gaussian_peaks_have_their_sign():
    centres = np.array([[-4, 2.5], [0, 2.5], [0, -2.5], [2, 0]])
    assert np.allclose(gaussian_bumps(centres), [1, -1, 1, 0])
    bundle = load("multi_gaussian", noise=0)
    assert bundle.y_train.abs().max() <= 1


def test_sine_without_noise_is_exact():
    bundle = load("sine", noise=0)
    assert torch.allclose(bundle.y_train[:, 0], torch.sin(bundle.x_train[:, 0]), atol=1e-6)
    assert bundle.info.display == "curve1d"


def test_daily_views_rows_are_the_previous_days():
    bundle = load("daily_views", window=10)
    series = bundle.extras["series"]
    for part in ("train", "val", "test"):
        days = bundle.extras[f"target_days_{part}"]
        x, y = getattr(bundle, f"x_{part}"), getattr(bundle, f"y_{part}")
        row = len(days) // 2
        assert torch.equal(x[row], series[days[row] - 10:days[row]])
        assert y[row, 0] == series[days[row]]
    assert bundle.extras["target_days_train"].max() < bundle.extras["target_days_val"].min()
    assert bundle.extras["target_days_val"].max() < bundle.extras["target_days_test"].min()
    assert bundle.info.input_shape == (10,) and bundle.info.feature_names[-1] == "day t-1"


def test_daily_views_scaling_can_be_undone():
    standard, thousands = load("daily_views"), load("daily_views", scale="thousands")
    train_days = len(standard.x_train) + 7
    assert abs(float(standard.extras["series"][:train_days].mean())) < 1e-4
    for bundle in (standard, thousands):
        scale = bundle.extras["scale"]
        views = bundle.extras["series"].double() * scale["factor"] + scale["offset"]
        assert 1500 < float(views.mean()) < 15000
    assert thousands.extras["scale"]["factor"] == 1000
    weekdays = thousands.extras["series"][:364].reshape(52, 7).mean(dim=0)
    assert weekdays.max() / weekdays.min() > 1.3  # a visible weekly rhythm


def test_digits_are_the_sklearn_set_in_unit_range():
    bundle = load("digits")
    assert sum(len(x) for x, _ in parts(bundle)) == 1797
    assert bundle.x_train.min() >= 0 and bundle.x_train.max() == 1


def test_shapes_follow_size_and_stay_in_unit_range():
    bundle = load("shapes", size=32, num_samples=200, noise=20)
    assert bundle.info.input_shape == (1, 32, 32)
    assert bundle.x_train.min() >= 0 and bundle.x_train.max() <= 1
    counts = torch.bincount(torch.cat([bundle.y_train, bundle.y_val, bundle.y_test]))
    assert counts.tolist() == [50, 50, 50, 50]


@pytest.mark.parametrize("seed", range(10))
def test_split_is_stratified_and_covers_every_index_once(seed):
    labels = np.repeat([0, 1, 2], [70, 20, 10])
    train, val, test = split_indices(100, np.random.default_rng(seed), 0.5, 0.2, labels)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert (len(train), len(val), len(test)) == (40, 10, 50)
    for part, share in ((train, 0.4), (test, 0.5)):
        counts = np.bincount(labels[part], minlength=3)
        assert np.all(np.abs(counts - share * np.array([70, 20, 10])) <= 1)


def test_unshuffled_split_keeps_time_order():
    train, val, test = split_indices(10, np.random.default_rng(0), 0.8, 0.25, shuffle=False)
    assert [train.tolist(), val.tolist(), test.tolist()] == [[0, 1, 2, 3, 4, 5], [6, 7], [8, 9]]


def test_too_few_examples_for_a_training_set():
    with pytest.raises(DatasetError, match="too few"):
        split_sizes(1, 0.5, 0.5)
