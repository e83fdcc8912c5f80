"""Hostile inputs against the engine: resource bombs that passed the caps, and documents, links,
CSVs and checkpoints that passed the entry point and crashed later (issue 8, sections 1 and 2).

The reproducing documents are in tests/hostile/; large inputs are generated here.
"""

from __future__ import annotations

import ast
import base64
import copy
import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from safetensors.torch import save as save_tensors

from dlbuilder.cli import main
from dlbuilder.compile import compile_graph
from dlbuilder.datasets import csv_read
from dlbuilder.datasets.base import DatasetError
from dlbuilder.datasets.csv_data import dataset_from_csv
from dlbuilder.document import DocumentError, load_document
from dlbuilder.document_reader import ID_PATTERN, RESERVED_IDS
from dlbuilder.export import export_onnx, python_source
from dlbuilder.export.python_source import class_name
from dlbuilder.limits import ResourceLimits
from dlbuilder.presets import PRESETS
from dlbuilder.share import ShareLinkError, decode_document, encode_document
from dlbuilder.training import evaluation
from dlbuilder.training.checkpoint import CheckpointError, checkpoint_bytes, read_checkpoint
from dlbuilder.training.setup import prepare
from dlbuilder.validation import InvalidNetwork, validate

HOSTILE = Path(__file__).resolve().parent / "hostile"


def hostile(name: str) -> bytes:
    return (HOSTILE / name).read_bytes()


def hostile_dict(name: str) -> dict:
    return json.loads(hostile(name))


def rename(raw: dict, old: str, new: str) -> dict:
    raw = copy.deepcopy(raw)
    for node in raw["network"]["nodes"]:
        if node["id"] == old:
            node["id"] = new
    for edge in raw["network"]["edges"]:
        for end in ("source", "target"):
            if edge[end] == old:
                edge[end] = new
    return raw


def limit_problems(document) -> list:
    return [p for p in validate(document).problems if p.check == "limits"]


# -- 1. resource caps -------------------------------------------------------------------------

def test_memory_is_bounded_by_activations_times_batch():
    raw = hostile_dict("big_batch.json")  # ~1.85 M values per example at batch 4096
    report = validate(load_document(raw))
    assert report.total_params < 300_000
    (problem,) = report.problems
    assert (problem.check, problem.node) == ("limits", "conv1")
    assert "training at batch size 4096 needs about 84.6 GB" in problem.message
    assert "this server allows 2.0 GB" in problem.message
    assert "set batch_size to 96 or less" in problem.message and "pool earlier" in problem.message
    raw["training"]["batch_size"] = 96  # the largest batch the message names does fit
    assert validate(load_document(raw)).ok
    raw["training"]["batch_size"] = 97
    assert not validate(load_document(raw)).ok


def test_every_preset_trains_at_its_batch_under_the_default_memory_cap():
    for name, preset in PRESETS.items():
        document = preset.load()
        assert validate(document).ok, name
        document.training["batch_size"] = 4096  # even the largest allowed batch fits them
        assert validate(document).ok, name


def test_memory_cap_is_a_limit_a_host_can_set():
    document = PRESETS["lenet"].load()  # 970 values per example, 3,350 parameters, batch 32
    (problem,) = validate(document, ResourceLimits(max_training_bytes=100_000)).problems
    assert "set batch_size to 2 or less" in problem.message  # (100000 - 20 * 3350) // (12 * 970)
    (problem,) = validate(document, ResourceLimits(max_training_bytes=50_000)).problems
    assert "even batch size 1 does not fit" in problem.message


@pytest.mark.parametrize("name", ["reshape_attention.json", "reshape_lstm.json"])
def test_sequence_cap_applies_to_every_node_not_only_inputs(name):
    (problem,) = validate(load_document(hostile(name))).problems
    assert (problem.check, problem.node) == ("limits", "steps4096")  # once, where the sequence starts
    assert problem.message.startswith("makes sequences of 4096 steps; this server allows 512")


@pytest.mark.parametrize("name, node, advice", [
    ("attention_cost.json", "attention", "shorten the sequence or use fewer heads"),
    ("recurrent_cost.json", "lstm", "use a smaller hidden_size or fewer num_layers"),
])
def test_attention_and_recurrent_costs_count_with_the_batch(name, node, advice):
    raw = hostile_dict(name)
    (problem,) = validate(load_document(raw)).problems
    assert (problem.check, problem.node) == ("limits", node)
    assert "training at batch size 4096" in problem.message and advice in problem.message
    fits = int(problem.message.split("set batch_size to ")[1].split()[0])
    raw["training"]["batch_size"] = fits
    assert validate(load_document(raw)).ok


def test_sizes_beyond_what_torch_can_describe_are_problems_not_crashes():
    report = validate(load_document(hostile("huge_flatten_dense.json")))  # 10^24 values into a Dense
    assert not report.ok and ("limits", "dense") in [(p.check, p.node) for p in report.problems]
    assert "too many to build a layer for" in str(report.problems[0])


def test_limits_come_from_the_environment(monkeypatch, capsys):
    lenet = PRESETS["lenet"].load()
    assert validate(lenet).ok
    monkeypatch.setenv("DLBUILDER_MAX_PARAMETERS", "100")
    report = validate(lenet)
    assert [(p.check, p.node) for p in report.problems] == [("limits", "dense1")]
    assert "this server allows 100." in report.problems[0].message
    with pytest.raises(InvalidNetwork):
        compile_graph(lenet)
    with pytest.raises(InvalidNetwork):
        python_source(lenet)
    assert main(["validate", "lenet"]) == 1
    assert "this server allows 100." in capsys.readouterr().out


def test_environment_values_that_are_not_plain_numbers_are_ignored():
    limits = ResourceLimits.from_env({"DLBUILDER_MAX_PARAMETERS": "²", "DLBUILDER_MAX_NODES": "9" * 5000,
                                      "DLBUILDER_MAX_WIDTH": " 64 ", "DLBUILDER_MAX_TRAINING_BYTES": "1000"})
    assert (limits.max_parameters, limits.max_nodes) == (ResourceLimits().max_parameters, ResourceLimits().max_nodes)
    assert (limits.max_width, limits.max_training_bytes) == (64, 1000)


def test_scoring_runs_in_memory_bounded_chunks_with_unchanged_results(monkeypatch):
    setup = prepare(PRESETS["lenet"].load(), device="cpu")
    split = setup.splits["val"]
    whole = evaluation.evaluate(setup, split)
    with torch.no_grad():
        assert torch.allclose(evaluation.predict(setup.model, split.x, chunk=7), setup.model.eval()(split.x),
                              atol=1e-6)
    batches = []
    setup.model.register_forward_pre_hook(lambda module, inputs: batches.append(len(inputs[0])))
    monkeypatch.setattr(evaluation, "EVAL_VALUES", 970 * 16)  # lenet makes 970 values per example
    chunked = evaluation.evaluate(setup, split)
    assert max(batches) == 16 and sum(batches) == len(split) > 16
    assert chunked.loss == pytest.approx(whole.loss, rel=1e-6) and chunked.metric == whole.metric


def test_scoring_chunk_shrinks_for_networks_with_many_values_per_example():
    model = compile_graph(PRESETS["lenet"].load())
    assert model.values_per_example == 970 and evaluation.chunk_size(model) == evaluation.CHUNK
    model.values_per_example = 2_000_000
    assert evaluation.chunk_size(model) == 33  # 256 MB of float32 values, not 2,048 examples (16 GB)
    model.values_per_example = 10 ** 12
    assert evaluation.chunk_size(model) == 1
    assert evaluation.chunk_size(torch.nn.Linear(2, 2)) == evaluation.CHUNK


def test_probes_forward_in_the_same_bounded_chunks():
    from dlbuilder import probes

    model = compile_graph(PRESETS["lenet"].load())
    x = model.example_inputs(batch=50)[0]
    with probes.evaluating(model):
        whole = probes.forward(model, x)
        batches = []
        model.register_forward_pre_hook(lambda module, inputs: batches.append(len(inputs[0])))
        model.values_per_example = evaluation.EVAL_VALUES // 8  # as if one example were huge
        chunked = probes.forward(model, x)
    assert batches == [8] * 6 + [2]
    assert torch.allclose(whole, chunked, atol=1e-6)


def wide_csv(columns: int = 10_000, rows: int = 240) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    return (header + "\n" + "\n".join(",".join("1" for _ in range(columns)) for _ in range(rows))).encode()


def test_wide_csv_is_refused_from_its_header_before_parsing(monkeypatch):
    def parse(*args, **kwargs):
        raise AssertionError("pandas parsed a file that the header already refuses")

    monkeypatch.setattr(csv_read.pd, "read_csv", parse)
    with pytest.raises(DatasetError, match="the file has 10,000 columns; at most 200 are allowed"):
        dataset_from_csv(wide_csv())


HUGE_CELLS = {
    "quoted cell": 'a,b\n"' + "x" * 200_000 + '",1\n' + "1,2\n" * 20,
    "header": "a" * 200_000 + ",b\n" + "1,2\n" * 20,
}


@pytest.mark.parametrize("case", list(HUGE_CELLS))
def test_csv_with_a_huge_cell_gives_a_clean_message(case):
    with pytest.raises(DatasetError, match="longer than 131,072 characters"):
        dataset_from_csv(HUGE_CELLS[case].encode())


def test_csv_messages_quote_at_most_a_short_part_of_a_cell():
    rows = "\n".join(f"{i},{i % 2}" for i in range(20))
    with pytest.raises(DatasetError) as caught:
        dataset_from_csv(("a,b\n" + "9" * 50_000 + ",0\n" + rows).encode())
    assert "is not numeric" in str(caught.value) and len(str(caught.value)) < 300


# -- 2. node ids, names and numbers -------------------------------------------------------------

def model_attribute_names() -> list[str]:
    """Every attribute of a compiled model (any preset) that the id pattern allows, minus its node ids."""
    names = set()
    for preset in PRESETS.values():
        document = preset.load()
        names |= set(dir(compile_graph(document))) - {n.id for n in document.nodes}
    return sorted(n for n in names if ID_PATTERN.fullmatch(n))


# Ordinary names, builtins and attributes of other objects that must keep working as ids.
WORKING_IDS = ["prediction", "weight", "bias", "keys", "items", "values", "update", "sum", "len", "input1",
               "id", "list", "range", "object", "cat", "layer", "module", "hooks", "state", "grad", "data",
               "shape", "dtype", "device", "match", "case", "print1", "output1"]


def test_every_model_attribute_name_is_refused_as_a_node_id():
    names = model_attribute_names()
    assert {"zero_grad", "steps", "training", "forward", "to", "cuda", "half", "input_ids", "output_id",
            "example_inputs", "capture", "add_module", "register_buffer", "values_per_example"} <= set(names)
    playground = PRESETS["playground"].document
    for name in names:
        with pytest.raises(DocumentError) as caught:
            load_document(rename(playground, "dense1", name))
        assert str(caught.value) == f"{name}: this id is reserved by Python/PyTorch: rename the node"


def test_names_the_generated_code_uses_are_refused():
    for preset in PRESETS.values():  # every lowercase name in the network class and at module level
        document = preset.load()
        tree = ast.parse(python_source(document))
        network = [n for n in tree.body if isinstance(n, ast.ClassDef)][-1]
        outside_helpers = [network] + [n for n in tree.body if not isinstance(n, ast.ClassDef)]
        used = {n.id for top in outside_helpers for n in ast.walk(top) if isinstance(n, ast.Name)}
        used -= {n.id for n in document.nodes}
        assert {n for n in used if ID_PATTERN.fullmatch(n)} <= RESERVED_IDS
    for name in ("class", "lambda", "return", "import"):  # keywords fail the id pattern's message
        with pytest.raises(DocumentError, match="must start with a lowercase letter"):
            load_document(rename(PRESETS["playground"].document, "dense1", name))


@pytest.mark.parametrize("name", WORKING_IDS)
@pytest.mark.parametrize("renamed", ["dense1", "input"])  # a module attribute, or an input's name
def test_ordinary_names_work_end_to_end(name, renamed):
    document = load_document(rename(PRESETS["playground"].document, renamed, name))
    torch.manual_seed(0)
    model = compile_graph(document).eval()
    x = model.example_inputs(batch=3)
    with torch.no_grad():
        expected = model(*x)
    assert name in (dict(model.named_children()) if renamed == "dense1" else model.input_ids)
    _, loaded = read_checkpoint(checkpoint_bytes(document, model))
    with torch.no_grad():
        assert torch.equal(loaded.eval()(*x), expected)
    session = onnxruntime.InferenceSession(export_onnx(model))
    assert [i.name for i in session.get_inputs()] == model.input_ids
    (actual,) = session.run(None, {model.input_ids[0]: x[0].numpy()})
    np.testing.assert_allclose(actual, expected.numpy(), atol=1e-5)


# Runs each generated file in a fresh interpreter (no dlbuilder on the path), loads the compiled
# model's weights, and writes each output (or the error) to results.json.
DRIVER = textwrap.dedent('''
    import importlib.util, json, sys, traceback
    import torch
    results = {}
    for case in json.load(open("manifest.json")):
        try:
            spec = importlib.util.spec_from_file_location(case["file"], case["file"] + ".py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = getattr(module, case["class"])()
            state = {k: torch.tensor(v) for k, v in case["state"].items()}
            model.load_state_dict(state, strict=True)
            with torch.no_grad():
                results[case["file"]] = model.eval()(*[torch.tensor(x) for x in case["inputs"]]).tolist()
        except BaseException:
            results[case["file"]] = traceback.format_exc()[-2000:]
    json.dump(results, open("results.json", "w"))
''')


def export_cases() -> dict:
    """Documents whose export once broke: named like helper classes or keywords, and odd node ids."""
    residual, seq2seq = PRESETS["residual"].document, PRESETS["seq2seq"].document
    cases = {f"named_{title.lower()}": dict(copy.deepcopy(residual if title != "SelfAttention" else seq2seq),
                                           name=title)
             for title in ("Add", "SelfAttention", "Recurrent", "None", "Exception", "Torch")}
    cases["named_add_ids"] = rename(rename(residual, "dense1", "keys"), "input", "prediction")
    deep = PRESETS["deep_mlp"].document
    for old, new in (("input", "len"), ("dense1", "values"), ("dense2", "sum"), ("dense3", "object"),
                     ("dense4", "print1"), ("output", "range")):
        deep = rename(deep, old, new)
    cases["builtin_ids"] = deep
    return cases


def test_exported_python_runs_for_hostile_names(tmp_path):
    manifest, expected = [], {}
    for file, raw in export_cases().items():
        document = load_document(raw)
        torch.manual_seed(0)
        model = compile_graph(document).eval()
        inputs = model.example_inputs(batch=2)
        with torch.no_grad():
            expected[file] = model(*inputs)
        (tmp_path / f"{file}.py").write_text(python_source(document))
        manifest.append({"file": file, "class": class_name(document.name), "inputs": [x.tolist() for x in inputs],
                         "state": {k: v.tolist() for k, v in model.state_dict().items()}})
    assert {c["class"] for c in manifest} >= {"AddNetwork", "SelfAttentionNetwork", "NoneNetwork", "Torch"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "driver.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    for file, output in results.items():
        assert not isinstance(output, str), output
        np.testing.assert_allclose(np.array(output), expected[file].numpy(), atol=1e-5)


def test_id_ending_in_a_newline_is_refused():
    with pytest.raises(DocumentError, match=r"node #2: id 'dense1\\n' must start with a lowercase letter"):
        load_document(hostile("newline_id.json"))


def test_share_link_version_with_a_newline_is_damaged_not_newer():
    token = encode_document(PRESETS["playground"].load())
    assert decode_document(token).name == PRESETS["playground"].load().name
    for text in ("1\n." + token[2:], "http://[host?g=" + token):
        with pytest.raises(ShareLinkError, match="damaged or incomplete"):
            decode_document(text)


LONG_NUMBERS = ["7" * 5001, "-" + "7" * 5001, "1." + "7" * 5001, "1e400"]


@pytest.mark.parametrize("number", LONG_NUMBERS, ids=["int", "negative int", "long float", "1e400"])
def test_long_numbers_are_refused_by_the_loader(number):
    text = hostile("long_integer.json").decode().replace("7" * 5001, number)
    with pytest.raises(DocumentError) as caught:
        load_document(text)
    assert "\n" not in str(caught.value) and ("at most 100 are allowed" in str(caught.value)
                                              or "too large for a number" in str(caught.value))


def test_long_integer_gives_one_error_line_from_the_cli(capsys):
    assert main(["validate", str(HOSTILE / "long_integer.json")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "a number in the document has 5,001 characters" in line


def test_long_integer_in_the_cli_subprocess_exits_2_without_a_traceback():
    run = subprocess.run([sys.executable, "-m", "dlbuilder", "validate", str(HOSTILE / "long_integer.json")],
                         capture_output=True, text=True, timeout=120, cwd=HOSTILE.parent.parent)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines() == [run.stderr.strip()] and run.stderr.startswith("error: ")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_cli_reads_at_most_one_byte_more_than_a_document(capsys):
    assert main(["validate", "/dev/zero"]) == 2  # read forever before
    assert capsys.readouterr().err == "error: /dev/zero: document is 1,000,001 bytes; at most 1,000,000 allowed\n"


def test_train_cli_reports_an_unwritable_output_folder_in_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["train", "playground", "--epochs", "1", "--out", str(blocker / "run")]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith(f"error: cannot write the results to {blocker / 'run'}: ")


def test_long_integer_in_a_share_link_gives_the_share_message():
    packed = zlib.compress(hostile("long_integer.json"), 9)
    token = "1." + base64.urlsafe_b64encode(packed).decode().rstrip("=")
    with pytest.raises(ShareLinkError, match="this share link holds no usable network"):
        decode_document(token)


# -- checkpoints ------------------------------------------------------------------------------

def cyclic_document():
    raw = copy.deepcopy(PRESETS["playground"].document)
    raw["network"]["edges"].append({"source": "dense2", "target": "dense1", "slot": 1})
    return load_document(raw)  # structurally readable; validation finds the loop


def header_checkpoint(header: bytes) -> bytes:
    return len(header).to_bytes(8, "little") + header


def playground_checkpoint(weights=None) -> bytes:
    document = PRESETS["playground"].load()
    return checkpoint_bytes(document, compile_graph(document) if weights is None else weights)


CHECKPOINTS = {
    "cycle": lambda: checkpoint_bytes(cyclic_document(), compile_graph(PRESETS["playground"].load())),
    "deep header": lambda: header_checkpoint(b"[" * 200_000 + b"]" * 200_000),
    "header size beyond the file": lambda: (10 ** 6).to_bytes(8, "little") + b"{}",
    "empty": lambda: b"",
    "document not text": lambda: header_checkpoint(json.dumps({"__metadata__": {"document": 5}}).encode()),
    "long number in the document": lambda: save_tensors({}, metadata={
        "document": hostile("long_integer.json").decode()}),
    "long number in the header": lambda: header_checkpoint(b'{"a": ' + b"1" * 5001 + b"}"),
    "truncated tensors": lambda: playground_checkpoint()[:-10],
    "missing tensors": lambda: playground_checkpoint({}),
    "wrong shapes": lambda: playground_checkpoint({k: torch.zeros(7) for k in compile_graph(
        PRESETS["playground"].load()).state_dict()}),
    "not bytes": lambda: "a text",
}


@pytest.mark.parametrize("case", list(CHECKPOINTS))
def test_every_checkpoint_failure_is_a_one_line_checkpoint_error(case):
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(CHECKPOINTS[case]())
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500
    if case == "cycle":
        assert message.startswith("the network in this checkpoint is not valid (")
        assert "part of a loop" in message
