"""Your own CSV data: parsing, task inference, standardisation, a clear error per broken file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dlbuilder.datasets import CSV_PARAMS, DatasetError, dataset_from_csv, load_csv


def make_csv(rows: int = 30, sep: str = ",", decimal: str = ".", label: bool = True) -> bytes:
    """Columns size (float), count (0-2), flag (true/false) and optionally a text label."""
    header = ["size", "count", "flag"] + (["label"] if label else [])
    lines = [sep.join(header)]
    for i in range(rows):
        cells = [f"{i * 0.5 + 1}".replace(".", decimal), str(i % 3), "true" if i % 2 else "false"]
        lines.append(sep.join(cells + (["dog" if i % 2 else "cat"] if label else [])))
    return ("\n".join(lines) + "\n").encode()


def all_rows(bundle):
    x = torch.cat([bundle.x_train, bundle.x_val, bundle.x_test])
    y = torch.cat([bundle.y_train, bundle.y_val, bundle.y_test])
    return x, y


def test_text_target_is_classification_with_class_names():
    bundle = dataset_from_csv(make_csv())
    info = bundle.info
    assert info.task == "classification" and info.class_names == ("cat", "dog")
    assert info.feature_names == ("size", "count", "flag") and info.input_shape == (3,)
    assert info.display == "table"
    assert (len(bundle.x_train), len(bundle.x_val), len(bundle.x_test)) == (22, 2, 6)
    x, y = all_rows(bundle)
    mean, std = np.array(bundle.extras["feature_mean"]), np.array(bundle.extras["feature_std"])
    raw = x.double().numpy() * std + mean
    # the label is "dog" exactly on odd rows, where flag is true
    assert np.array_equal(raw[:, 2].round(), y.numpy())


def test_standardised_with_training_rows_only():
    bundle = dataset_from_csv(make_csv(rows=50))
    assert torch.allclose(bundle.x_train.mean(dim=0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(bundle.x_train.std(dim=0, unbiased=False), torch.ones(3), atol=1e-5)
    assert not torch.allclose(bundle.x_test.mean(dim=0), torch.zeros(3), atol=1e-3)


@pytest.mark.parametrize("sep, decimal", [(";", ","), (";", "."), ("\t", "."), ("|", ".")])
def test_other_delimiters_are_sniffed(sep, decimal):
    bundle = dataset_from_csv(make_csv(sep=sep, decimal=decimal))
    assert bundle.extras["delimiter"] == sep
    assert bundle.info.feature_names == ("size", "count", "flag")
    reference = dataset_from_csv(make_csv())
    assert torch.allclose(bundle.x_train, reference.x_train)


def test_float_target_is_regression_and_scale_can_be_undone():
    bundle = dataset_from_csv(make_csv(label=False), target="size")
    assert bundle.info.task == "regression" and bundle.y_train.shape[1] == 1
    scale = bundle.extras["scale"]
    _, y = all_rows(bundle)
    sizes = np.sort(y[:, 0].double().numpy() * scale["factor"] + scale["offset"])
    assert np.allclose(sizes, np.arange(30) * 0.5 + 1)


def test_small_integer_target_is_classification_unless_overridden():
    bundle = dataset_from_csv(make_csv(label=False), target="count")
    assert bundle.info.task == "classification" and bundle.info.class_names == ("0", "1", "2")
    as_numbers = dataset_from_csv(make_csv(label=False), target="count", task="regression")
    assert as_numbers.info.task == "regression"


def test_true_false_target_keeps_its_names():
    bundle = dataset_from_csv(make_csv(label=False), target="flag")
    assert bundle.info.class_names == ("false", "true")


def test_default_target_is_the_last_column():
    assert dataset_from_csv(make_csv(label=False)).info.class_names == ("false", "true")


def test_same_seed_same_split():
    first, again = dataset_from_csv(make_csv(), seed=5), dataset_from_csv(make_csv(), seed=5)
    other = dataset_from_csv(make_csv(), seed=6)
    assert torch.equal(first.x_train, again.x_train) and torch.equal(first.y_test, again.y_test)
    assert not torch.equal(first.x_train, other.x_train)


def test_load_csv_takes_the_schema_dict():
    assert {p.name for p in CSV_PARAMS} == {"target", "task", "train_fraction", "val_fraction"}
    bundle = load_csv(make_csv(), {"train_fraction": 0.5, "val_fraction": 0.0}, seed=0)
    assert (len(bundle.x_train), len(bundle.x_val), len(bundle.x_test)) == (15, 0, 15)
    with pytest.raises(DatasetError, match="task"):
        load_csv(make_csv(), {"task": "clustering"}, seed=0)


def header_and_rows(header: str, row: str, count: int = 12) -> bytes:
    return (header + "\n" + (row + "\n") * count).encode()


@pytest.mark.parametrize("data, words", [
    (b"", ["empty"]),
    (b"  \n\n", ["empty"]),
    (b"PK\x03\x04\x00\x00binary", ["not a text file", "CSV UTF-8"]),
    ("größe,b\n".encode("latin-1") + b"1,2\n" * 12, ["not UTF-8"]),
    (header_and_rows("value", "1"), ["only one column", "'value'"]),
    (header_and_rows("a b c", "1 2 3"), ["only one column", "separated by spaces"]),
    (header_and_rows("a,b", "1,2", count=4), ["only 4 data row", "at least 10"]),
    (header_and_rows("a,b,c", "1,red,0"), ["column 'b' is not numeric", "row 1 'red'"]),
    (header_and_rows("a,b,c", "1,,0"), ["missing values", "column 'b' has 12 empty cells"]),
    (b"a,b,c\n" + b"1,2,3\n" * 11 + b"1,2,3,4\n", ["Expected 3 fields", "same number of columns"]),
    (header_and_rows("a,b", "1,7"), ["only one value", "'7'"]),
])
def test_broken_files_say_what_is_wrong(data, words):
    with pytest.raises(DatasetError) as error:
        dataset_from_csv(data)
    for word in words:
        assert word in str(error.value)


def test_missing_target_column_lists_the_columns():
    with pytest.raises(DatasetError, match="no column 'price'.*'size', 'count', 'flag', 'label'"):
        dataset_from_csv(make_csv(), target="price")


def test_text_target_cannot_be_regression():
    with pytest.raises(DatasetError, match="not numeric.*choose classification"):
        dataset_from_csv(make_csv(), task="regression")


def test_bad_cells_are_named_with_row_and_value():
    data = make_csv(label=False).replace(b"\n4.0,", b"\nfour,")
    with pytest.raises(DatasetError, match="column 'size' is not numeric \\(row 7 'four'\\)"):
        dataset_from_csv(data)


def test_too_large_files_are_refused():
    with pytest.raises(DatasetError, match="too large.*at most 5 MB"):
        dataset_from_csv(b"a,b\n" + b"1,2\n" * 1_400_000)
    with pytest.raises(DatasetError, match="100,001 rows; at most 100,000"):
        dataset_from_csv(b"a,b\n" + b"1,2\n" * 100_001)
    wide = ",".join(f"c{i}" for i in range(201))
    with pytest.raises(DatasetError, match="201 columns; at most 200"):
        dataset_from_csv(header_and_rows(wide, ",".join(["1"] * 201)))


def test_too_many_classes_for_classification():
    data = b"a,b\n" + b"".join(f"{i},{i * 0.37:.2f}\n".encode() for i in range(150))
    with pytest.raises(DatasetError, match="150 different values.*choose regression"):
        dataset_from_csv(data, task="classification")
