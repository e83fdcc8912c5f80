"""Shared test set-up: one torch thread (2-core CI machines), GPU marker handling."""

import sys

import pytest
import torch

from dlbuilder import tasks

torch.set_num_threads(1)

HAS_CUDA = torch.cuda.is_available()
requires_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU; none on this machine")


@pytest.fixture(autouse=True)
def restore_main_module():
    """AppTest leaves its temporary script as `__main__`; worker processes started later would run
    that script again (multiprocessing re-imports `__main__` in every worker) and die."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def cancel_background_tasks():
    """A test's background tasks (landscape grids on Inspect) must not keep a core busy in later tests."""
    yield
    tasks.cancel_all()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gpu" in item.keywords and not HAS_CUDA:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; none on this machine"))

from tests.browser import app_url, browser, page  # noqa: E402,F401  (browser fixtures, one per session)
