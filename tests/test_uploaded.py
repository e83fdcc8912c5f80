"""Uploaded CSV files as a dataset: stored by content hash, named in documents, trained on."""

import numpy as np
import pytest

from dlbuilder.datasets import DATASETS, DatasetError, store_upload
from dlbuilder.editing import network_for_dataset, set_data_params, set_dataset
from dlbuilder.share import decode_document, encode_document
from dlbuilder.training.trainer import Trainer
from dlbuilder.validation import validate


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBUILDER_CACHE", str(tmp_path))


def iris_like(rows: int = 150) -> bytes:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, rows)
    features = rng.normal(size=(rows, 4)) + labels[:, None] * 2.0
    lines = ["a,b,c,d,species"] + [",".join(f"{v:.3f}" for v in row) + f",kind{label}"
                                   for row, label in zip(features, labels)]
    return "\n".join(lines).encode()


def csv_document(data: bytes, **params):
    document = network_for_dataset("circle")
    document = set_dataset(document, "csv")
    return set_data_params(document, {"file": store_upload(data), **params})


def test_an_uploaded_csv_sizes_the_network_and_trains():
    document = csv_document(iris_like())
    report = validate(document)
    assert report.ok, [str(p) for p in report.problems]
    assert report.shapes["input"].shape == (4,) and report.shapes["output"].shape == (3,)
    document.training.update(epochs=30, learning_rate=0.01)
    trainer = Trainer(document)
    while trainer.step():
        pass
    assert trainer.metrics.epochs()[-1].val_metric > 0.8


def test_the_same_bytes_give_the_same_key_and_a_share_link_finds_them():
    first, second = store_upload(iris_like()), store_upload(iris_like())
    assert first == second and len(first) == 24
    document = csv_document(iris_like())
    reopened = decode_document(encode_document(document))
    assert validate(reopened).ok


def test_missing_or_forged_files_say_what_to_do(tmp_path):
    document = set_dataset(network_for_dataset("circle"), "csv")
    problems = [p.message for p in validate(document).problems]
    assert any("no CSV file is uploaded yet" in m for m in problems)
    gone = set_data_params(document, {"file": "0" * 24})
    assert any("no longer on the server: upload it again" in p.message for p in validate(gone).problems)
    forged = set_data_params(document, {"file": "../../etc/passwd"})
    assert not validate(forged).ok
    with pytest.raises(DatasetError):
        DATASETS["csv"].load({"file": "../../etc/passwd"}, 0)


def test_a_broken_file_is_refused_and_a_bad_setting_is_reported_through_validation():
    with pytest.raises(DatasetError, match="at least 10"):  # checked before it is stored (issue 8)
        store_upload(b"a;b;c\n1;2;x\n3;4;y\n")
    document = csv_document(iris_like(), target="nothing")
    assert any("csv" in p.message and "no column 'nothing'" in p.message for p in validate(document).problems)


def test_oversized_uploads_are_refused():
    with pytest.raises(DatasetError, match="at most"):
        store_upload(b"x" * (6 * 1024 * 1024))


def test_switching_datasets_lets_the_ends_follow():
    from dlbuilder.editing import fit_to_data
    from dlbuilder.presets import PRESETS
    playground = PRESETS["playground"].load()  # output: classification with 1 unit (binary)
    assert validate(set_dataset(playground, "spiral")).ok  # still binary: 1 unit kept
    assert set_dataset(playground, "spiral").node("output").params["units"] == 1
    on_sine = set_dataset(playground, "sine")
    assert on_sine.node("output").params["task"] == "regression" and validate(on_sine).ok
    uploaded = fit_to_data(set_data_params(set_dataset(playground, "csv"), {"file": store_upload(iris_like())}))
    assert uploaded.node("output").params["units"] == 0 and validate(uploaded).ok
