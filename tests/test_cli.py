"""The command line: exit codes, one-line errors, and what each command writes."""

from __future__ import annotations

import ast
import copy
import io
import json
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from dlbuilder.cli import main
from dlbuilder.document import load_document
from dlbuilder.presets import PRESETS

ROOT = Path(__file__).resolve().parent.parent


def write_json(path: Path, raw: dict) -> str:
    path.write_text(json.dumps(raw))
    return str(path)


def broken_playground() -> dict:
    """Two independent problems on two named nodes."""
    raw = copy.deepcopy(PRESETS["playground"].document)
    nodes = {n["id"]: n for n in raw["network"]["nodes"]}
    nodes["dense1"]["params"]["units"] = "four"
    raw["network"]["nodes"].append({"id": "lonely", "type": "tanh"})
    return raw


def test_presets_lists_every_preset(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(PRESETS)
    assert "TensorFlow Playground default" in lines[0]


def test_show_prints_a_loadable_document(capsys):
    assert main(["show", "lenet"]) == 0
    out = capsys.readouterr().out
    assert load_document(out).to_dict() == PRESETS["lenet"].load().to_dict()


def test_show_unknown_preset(capsys):
    assert main(["show", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: unknown preset 'nope'") and "playground" in captured.err


def test_validate_valid_file(tmp_path, capsys):
    path = write_json(tmp_path / "net.json", PRESETS["playground"].document)
    assert main(["validate", path]) == 0
    assert capsys.readouterr().out == "valid: 4 nodes, 25 parameters\n"


def test_validate_a_preset_by_name(capsys):
    assert main(["validate", "lenet"]) == 0
    assert capsys.readouterr().out == "valid: 8 nodes, 3,350 parameters\n"


def test_validate_invalid_file_lists_one_problem_per_line(tmp_path, capsys):
    path = write_json(tmp_path / "net.json", broken_playground())
    assert main(["validate", path]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("dense1: units must be an integer")
    assert lines[1].startswith("lonely: Tanh needs one input but has 0")


def test_validate_json_output(tmp_path, capsys):
    path = write_json(tmp_path / "net.json", PRESETS["lenet"].document)
    assert main(["validate", path, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is True and result["problems"] == []
    assert result["total_parameters"] == 3350
    assert result["nodes"]["conv1"] == {"shape": [6, 8, 8], "parameters": 60}
    assert result["nodes"]["pool2"] == {"shape": [16, 2, 2], "parameters": 0}
    assert result["nodes"]["output"] == {"shape": [10], "parameters": 330}
    assert list(result["nodes"]) == ["input", "conv1", "pool1", "conv2", "pool2", "flatten", "dense1", "output"]


def test_validate_json_output_of_an_invalid_file(tmp_path, capsys):
    path = write_json(tmp_path / "net.json", broken_playground())
    assert main(["validate", path, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is False
    assert [(p["check"], p["node"]) for p in result["problems"]] == [("params", "dense1"), ("arity", "lonely")]
    assert result["nodes"]["dense1"] == {"shape": None, "parameters": None}
    assert result["nodes"]["input"] == {"shape": [2], "parameters": 0}


def test_validate_from_stdin(monkeypatch, capsys):
    text = json.dumps(PRESETS["residual"].document).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    assert main(["validate", "-"]) == 0
    assert capsys.readouterr().out == "valid: 7 nodes, 626 parameters\n"


def test_export_json_loads_back(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(["export", "seq2seq", "--to", "json", "-o", str(out)]) == 0
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert load_document(out.read_text()).to_dict() == PRESETS["seq2seq"].load().to_dict()


def test_export_python_compiles(tmp_path, capsys):
    source_file = write_json(tmp_path / "net.json", PRESETS["residual"].document)
    out = tmp_path / "net.py"
    assert main(["export", source_file, "--to", "python", "-o", str(out)]) == 0
    tree = ast.parse(out.read_text())
    compile(tree, str(out), "exec")
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)][-1] == "ResidualBlock"


def test_export_onnx_loads(tmp_path, capsys):
    out = tmp_path / "net.onnx"
    assert main(["export", "lstm", "--to", "onnx", "-o", str(out)]) == 0
    model = onnx.load(str(out))
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == ["input"]
    assert [o.name for o in model.graph.output] == ["prediction"]


def test_export_of_an_invalid_network_lists_problems(tmp_path, capsys):
    path = write_json(tmp_path / "net.json", broken_playground())
    out = tmp_path / "net.py"
    assert main(["export", path, "--to", "python", "-o", str(out)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["dense1", "lonely"]
    assert not out.exists()


def test_export_to_an_unwritable_place(tmp_path, capsys):
    out = tmp_path / "missing" / "net.py"
    assert main(["export", "playground", "--to", "python", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "net.py" in err


BAD_FILES = {
    "not_json": b"{this is not json",
    "binary": bytes(range(256)) * 4,
    "newer_schema": json.dumps({"schema_version": 99, "network": {"nodes": [], "edges": []}}).encode(),
    "unknown_type": json.dumps({"schema_version": 1, "network": {
        "nodes": [{"id": "evil", "type": "os.system"}], "edges": []}}).encode(),
    "deep": b"[" * 100_000,
}
EXPECTED_IN_MESSAGE = {"not_json": "not valid JSON", "binary": "not valid JSON", "newer_schema": "schema_version 99",
                       "unknown_type": "'os.system'", "deep": "nested too deeply"}


@pytest.mark.parametrize("command", [["validate"], ["validate", "--json"],
                                     ["export", "--to", "json", "-o", "unused.json"]])
@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_give_one_line_and_exit_2(kind, command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{kind}.json"
    path.write_bytes(BAD_FILES[kind])
    assert main([command[0], str(path), *command[1:]]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path}: ") and captured.err.count("\n") == 1
    assert EXPECTED_IN_MESSAGE[kind] in captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "unused.json").exists()


def test_missing_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nothere.json")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: cannot read {tmp_path / 'nothere.json'}: No such file or directory\n"


def test_a_directory_is_not_a_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read") and err.count("\n") == 1


def test_python_m_dlbuilder_validate_in_a_fresh_process(tmp_path):
    path = write_json(tmp_path / "net.json", broken_playground())
    run = subprocess.run([sys.executable, "-m", "dlbuilder", "validate", path], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr
    assert run.stderr == ""
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["dense1", "lonely"]
    assert "Traceback" not in run.stdout
