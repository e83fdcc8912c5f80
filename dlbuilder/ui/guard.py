"""Errors on the page: the engine's own errors as their message, anything else as a short note.

A traceback shows the server's paths and tells a student nothing they can act on, so the pages
run engine calls through these helpers; the full details of an unexpected error go to the log.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import wraps

from dlbuilder.datasets.base import DatasetError
from dlbuilder.document import Document, DocumentError
from dlbuilder.editing import EditError
from dlbuilder.export.onnx_export import ExportError
from dlbuilder.playground_import import PlaygroundImportError
from dlbuilder.share import ShareLinkError
from dlbuilder.training.checkpoint import CheckpointError
from dlbuilder.training.setup import TrainingError
from dlbuilder.ui import text
from dlbuilder.validation import InvalidNetwork, Problem, ValidationReport, validate

# Raised by the engine's entry points with a one-line message that says what to change.
KNOWN_ERRORS = (CheckpointError, DatasetError, DocumentError, EditError, ExportError, InvalidNetwork,
                PlaygroundImportError, ShareLinkError, TrainingError)
LOG = logging.getLogger("dlbuilder.ui")


def explain(error: Exception, advice: str) -> str:
    """Plain text for `error`: a known engine error's own message, else `advice` (the error is logged)."""
    if isinstance(error, KNOWN_ERRORS):
        return str(error)
    LOG.error("unexpected error on the page", exc_info=error)
    return f"Something went wrong that dlbuilder did not expect. {advice} (The details are in the server's log.)"


@contextmanager
def guarded(advice: str):
    """Run a part of the page; an error in it becomes a plain one-line message, never a traceback."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 (Streamlit's rerun/stop are BaseExceptions and pass)
        text.show("error", explain(error, advice))


def callback(advice: str):
    """Decorate a widget callback: an error in it becomes the page's notice."""
    def decorate(function):
        @wraps(function)
        def run(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001
                from dlbuilder.ui import session  # session imports this module
                session.notify("error", explain(error, advice))
        return run
    return decorate


def checked(document: Document) -> ValidationReport:
    """`validate(document)`; should validation itself fail, a report with one problem saying what to do."""
    try:
        return validate(document)
    except Exception as error:  # noqa: BLE001
        message = explain(error, "Undo the last change, or start from a preset on the Build page.")
        return ValidationReport(problems=[Problem("internal", None, message)])
