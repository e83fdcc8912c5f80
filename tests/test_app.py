"""The app starts and its start page shows what the engine really has."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from dlbuilder.presets import PRESETS

APP = Path(__file__).resolve().parents[1] / "app.py"


def test_start_page_lists_presets_layers_and_datasets():
    app = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not app.exception
    assert app.title[0].value == "dlbuilder"
    presets = app.table[0].value
    assert list(presets.index) == list(PRESETS)
    assert presets.loc["playground", "parameters"] == 25
    assert presets["valid"].all()
    assert "python -m dlbuilder train" in app.code[0].value
