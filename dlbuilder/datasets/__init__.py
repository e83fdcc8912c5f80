"""The built-in datasets: `DATASETS` maps the name users see to its DatasetSpec.

"csv" reads a file the student uploaded (`store_upload` returns the key its params name).
"""

from __future__ import annotations

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError, DatasetSpec, InputInfo
from dlbuilder.datasets.csv_data import CSV_PARAMS, dataset_from_csv, load_csv
from dlbuilder.datasets.features import PLAYGROUND_FEATURES, playground_features
from dlbuilder.datasets.images import IMAGE_SETS
from dlbuilder.datasets.mnist import MNIST_SETS, NETWORK_DATASETS
from dlbuilder.datasets.playground import PLAYGROUND_SETS
from dlbuilder.datasets.regression import REGRESSION_SETS
from dlbuilder.datasets.seq2seq import SEQ2SEQ_SETS
from dlbuilder.datasets.sequences import BIT_SETS
from dlbuilder.datasets.series import SERIES_SETS
from dlbuilder.datasets.text import SLOT_SETS
from dlbuilder.datasets.uploaded import CSV_DATASET, UPLOADED_DATASETS, store_upload

DATASETS: dict[str, DatasetSpec] = {
    **PLAYGROUND_SETS,
    **REGRESSION_SETS,
    **SERIES_SETS,
    **IMAGE_SETS,
    **MNIST_SETS,
    **SLOT_SETS,  # sequences: token ids, lengths and masks as described in datasets/tokens.py
    **BIT_SETS,
    **SEQ2SEQ_SETS,
    CSV_DATASET.name: CSV_DATASET,  # reads an uploaded file (store_upload), not generated
}

__all__ = ["CSV_PARAMS", "DATASETS", "NETWORK_DATASETS", "PLAYGROUND_FEATURES", "UPLOADED_DATASETS",
           "DataInfo", "DatasetBundle", "DatasetError", "DatasetSpec", "InputInfo", "dataset_from_csv", "load_csv",
           "playground_features", "store_upload"]
