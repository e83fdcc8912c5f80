"""Exported PyTorch source and ONNX give the compiled model's outputs, standing on their own."""

from __future__ import annotations

import ast
import copy
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from safetensors.torch import save_file

from dlbuilder.compile import compile_graph
from dlbuilder.document import load_document
from dlbuilder.export import export_onnx, python_source
from dlbuilder.export.python_source import class_name
from dlbuilder.presets import PRESETS
from dlbuilder.validation import InvalidNetwork
from tests.networks import LAYER_CASES, single_layer_document

CASES = [f"preset_{name}" for name in sorted(PRESETS)] + [f"layer_{name}" for name in sorted(LAYER_CASES)]
ALLOWED_IMPORTS = {("import", "torch", None), ("from", "torch", "nn")}


def case_document(case: str):
    kind, name = case.split("_", 1)
    return PRESETS[name].load() if kind == "preset" else single_layer_document(name)


def trained_looking_model(document):
    """A compiled model whose BatchNorm statistics are not the defaults, in eval mode."""
    torch.manual_seed(0)
    model = compile_graph(document)
    with torch.no_grad():
        model.train()(*model.example_inputs(batch=4, seed=9))
    return model.eval()


# The driver runs in a fresh interpreter without dlbuilder on its path: the generated files
# must stand alone. It writes one result per case (or the error it met) to results.json.
DRIVER = textwrap.dedent('''
    import contextlib, importlib.util, io, json, runpy, sys, traceback
    import torch
    from safetensors.torch import load_file

    torch.set_num_threads(1)
    results = {}
    for case in json.load(open("manifest.json")):
        name = case["case"]
        try:
            spec = importlib.util.spec_from_file_location(name, name + ".py")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = getattr(module, case["class"])()
            model.load_state_dict(load_file(name + ".safetensors"), strict=True)
            model.eval()
            io_tensors = load_file(name + "_io.safetensors")
            inputs = [io_tensors[f"input{i}"] for i in range(case["inputs"])]
            with torch.no_grad():
                actual = model(*inputs)
            expected = io_tensors["expected"]
            demo = io.StringIO()
            with contextlib.redirect_stdout(demo):
                runpy.run_path(name + ".py", run_name="__main__")
            results[name] = {"shape": list(actual.shape), "expected_shape": list(expected.shape),
                             "max_diff": float((actual - expected).abs().max()), "demo": demo.getvalue()}
        except Exception:
            results[name] = {"error": traceback.format_exc()}
    results["dlbuilder_imported"] = any(m.split(".")[0] == "dlbuilder" for m in sys.modules)
    json.dump(results, open("results.json", "w"))
''')


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Write every case's source, weights, inputs and outputs; run the driver once."""
    folder = tmp_path_factory.mktemp("exported")
    manifest, sources = [], {}
    for case in CASES:
        document = case_document(case)
        model = trained_looking_model(document)
        inputs = model.example_inputs(batch=3, seed=1)
        with torch.no_grad():
            expected = model(*inputs)
        sources[case] = python_source(document)
        (folder / f"{case}.py").write_text(sources[case])
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / f"{case}.safetensors")
        save_file({**{f"input{i}": t.contiguous() for i, t in enumerate(inputs)}, "expected": expected.contiguous()},
                  folder / f"{case}_io.safetensors")
        manifest.append({"case": case, "class": class_name(document.name), "inputs": len(inputs)})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "driver.py").write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "driver.py"], cwd=folder, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((folder / "results.json").read_text())
    return results, sources


def imports_of(source: str) -> set[tuple]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {("import", alias.name, alias.asname) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {("from", node.module, alias.name) for alias in node.names}
    return found


def test_generated_files_run_without_dlbuilder(exported):
    results, _ = exported
    assert results["dlbuilder_imported"] is False


@pytest.mark.parametrize("case", CASES)
def test_python_source_matches_the_compiled_model(case, exported):
    results, sources = exported
    result = results[case]
    assert "error" not in result, result.get("error")
    assert result["shape"] == result["expected_shape"]
    assert result["max_diff"] <= 1e-5
    assert imports_of(sources[case]) == ALLOWED_IMPORTS
    tree = ast.parse(sources[case])
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes[-1] == class_name(case_document(case).name)
    # the demo block prints the model (by node id) and the shape of a batch of 2
    demo = result["demo"]
    assert f"torch.Size([2, {', '.join(str(d) for d in result['shape'][1:])}])" in demo
    for node_id in dict(compile_graph(case_document(case)).named_children()):
        assert f"({node_id}): " in demo


def test_generated_forward_names_every_node_with_its_shape():
    source = python_source(PRESETS["lenet"].load())
    assert "class LeNetStyleCNN(nn.Module):" in source
    assert "        conv1 = self.conv1(input)  # (B, 6, 8, 8)" in source
    assert "        flatten = self.flatten(pool2)  # (B, 64)" in source
    assert "        return output" in source
    assert "self.conv1 = nn.Sequential(nn.Conv2d(1, 6, 3, stride=1, padding='same', bias=True), nn.ReLU())" \
        in source


@pytest.mark.parametrize("text", [
    'x"""\nimport os; os.system("echo pwned")\n"""',
    'ends in a quote"', 'two quotes""', "back\\slash\\", "nul\x00byte", "line\u2028separator",
])
def test_hostile_names_and_descriptions_stay_inside_the_docstring(text):
    raw = copy.deepcopy(PRESETS["playground"].document)
    raw["name"], raw["description"] = text, text
    source = python_source(load_document(raw))
    tree = ast.parse(source)  # still valid Python
    assert imports_of(source) == ALLOWED_IMPORTS
    assert [type(n).__name__ for n in tree.body] == ["Expr", "Import", "ImportFrom", "ClassDef", "If"]
    assert isinstance(tree.body[0].value, ast.Constant) and "PyTorch" in tree.body[0].value.value


def test_export_refuses_an_invalid_network():
    raw = copy.deepcopy(PRESETS["playground"].document)
    raw["network"]["nodes"][1]["params"]["units"] = "four"
    with pytest.raises(InvalidNetwork, match="dense1: units must be"):
        python_source(load_document(raw))


# --- ONNX ------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_onnx_matches_the_compiled_model(case, tmp_path):
    model = trained_looking_model(case_document(case))
    path = tmp_path / "model.onnx"
    data = export_onnx(model, path)
    assert path.read_bytes() == data
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    assert [i.name for i in proto.graph.input] == model.input_ids
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    inputs = model.example_inputs(batch=3, seed=5)  # exported with batch 2: the batch axis is dynamic
    with torch.no_grad():
        expected = model(*inputs).numpy()
    (actual,) = session.run(None, {name: t.numpy() for name, t in zip(model.input_ids, inputs)})
    assert actual.shape == expected.shape
    assert np.abs(actual - expected).max() <= 1e-4
