"""Small documents used across the tests: one per layer type, built as plain dicts."""

from __future__ import annotations

import time

from dlbuilder.document import SCHEMA_VERSION, Document, load_document
from dlbuilder.presets import PRESETS

# Per layer: its input shapes (token inputs as ("tokens", length, vocab)) and params to use.
LAYER_CASES: dict[str, tuple[list, dict]] = {
    "input": ([[4]], {}),
    "output": ([[4]], {"task": "regression", "units": 3}),
    "dense": ([[6, 4]], {"units": 5, "activation": "gelu"}),
    "flatten": ([[2, 3, 3]], {}),
    "reshape": ([[18]], {"shape": [2, 3, 3]}),
    "embedding": ([("tokens", 6, 10)], {"dim": 5}),
    "identity": ([[4]], {}),
    "relu": ([[4]], {}),
    "leaky_relu": ([[4]], {"negative_slope": 0.2}),
    "sigmoid": ([[4]], {}),
    "tanh": ([[4]], {}),
    "gelu": ([[4]], {}),
    "softmax": ([[2, 3, 3]], {}),
    "conv2d": ([[2, 8, 8]], {"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1,
                             "activation": "tanh"}),
    "maxpool2d": ([[2, 7, 7]], {"kernel_size": 3, "stride": 2, "padding": 1}),
    "avgpool2d": ([[2, 8, 8]], {}),
    "global_avg_pool": ([[2, 5, 5]], {}),
    "rnn": ([[6, 4]], {"hidden_size": 5, "num_layers": 2, "nonlinearity": "relu"}),
    "lstm": ([[6, 4]], {"hidden_size": 5, "bidirectional": True, "return_sequences": False}),
    "gru": ([[6, 4]], {"hidden_size": 5, "num_layers": 2, "bidirectional": True}),
    "positional_encoding": ([[6, 4]], {"kind": "learned", "max_length": 8}),
    "self_attention": ([[6, 4]], {"num_heads": 2, "causal": True}),
    "cross_attention": ([[6, 4], [5, 3]], {"num_heads": 2}),
    "add": ([[4], [4]], {}),
    "concat": ([[4], [3]], {}),
    "dropout": ([[4]], {"p": 0.3}),
    "batchnorm": ([[2, 4, 4]], {}),
    "layernorm": ([[6, 4]], {}),
}


def input_node(node_id: str, shape) -> dict:
    if isinstance(shape, tuple):
        _, length, vocab = shape
        return {"id": node_id, "type": "input", "params": {"shape": [length], "dtype": "tokens",
                                                            "vocab_size": vocab}}
    return {"id": node_id, "type": "input", "params": {"shape": list(shape)}}


def document_dict(nodes: list[dict], edges: list[tuple], data=None, **extra) -> dict:
    return {"schema_version": SCHEMA_VERSION, "name": extra.pop("name", "test"),
            "network": {"nodes": nodes, "edges": [
                {"source": s, "target": t, "slot": slot} for s, t, slot in edges]},
            "data": data, **extra}


def single_layer_document(layer: str) -> Document:
    """Input(s) -> layer -> (Flatten) -> Output(regression, 3): exercises one layer type."""
    shapes, params = LAYER_CASES[layer]
    nodes = [input_node(f"in{i}", shape) for i, shape in enumerate(shapes)]
    edges = []
    if layer == "input":
        last = "in0"
    elif layer == "output":
        return load_document(document_dict(nodes + [{"id": "out", "type": "output", "params": params}],
                                           [("in0", "out", 0)]))
    else:
        nodes.append({"id": "layer", "type": layer, "params": params})
        edges += [(f"in{i}", "layer", i) for i in range(len(shapes))]
        last = "layer"
    nodes += [{"id": "flat", "type": "flatten"},
              {"id": "out", "type": "output", "params": {"task": "regression", "units": 3}}]
    edges += [(last, "flat", 0), ("flat", "out", 0)]
    return load_document(document_dict(nodes, edges))


def long_playground() -> Document:
    """The Playground preset with so many epochs that it is still training when a test looks."""
    document = PRESETS["playground"].load()
    document.training["epochs"] = 100_000
    return document


def wait_for(predicate, timeout: float = 120.0) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def pause_and_step_once(job) -> int:
    """Pause a running job, check it holds still, step it once; the step it was held at."""
    job.pause()
    assert wait_for(lambda: job.status == "paused")
    held = job.snapshot().step
    time.sleep(0.3)
    assert job.snapshot().step == held
    job.step_once()
    assert wait_for(lambda: job.snapshot().step == held + 1)
    return held
