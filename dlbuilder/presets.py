"""Ready-made networks as plain document data; each validates and compiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlbuilder.document import SCHEMA_VERSION, Document, load_document

X_STEP, Y_STEP = 200, 130


@dataclass(frozen=True)
class Preset:
    """A named starting point: a title, what it shows, and its document."""

    name: str
    title: str
    doc: str
    document: dict[str, Any]

    def load(self) -> Document:
        return load_document(self.document)


def _node(node_id: str, node_type: str, column: float, row: float = 0, **params: Any) -> dict:
    return {"id": node_id, "type": node_type, "params": params, "position": [column * X_STEP, row * Y_STEP]}


def _chain(*nodes: dict) -> list[dict]:
    """Edges joining `nodes` one after the other."""
    return [{"source": a["id"], "target": b["id"], "slot": 0} for a, b in zip(nodes, nodes[1:])]


def _document(name: str, description: str, nodes: list[dict], edges: list[dict],
              data: dict | None, **training: Any) -> dict:
    return {"schema_version": SCHEMA_VERSION, "name": name, "description": description,
            "network": {"nodes": nodes, "edges": edges}, "data": data, "training": training, "seed": 0}


def _playground() -> dict:
    nodes = [_node("input", "input", 0), _node("dense1", "dense", 1, units=4, activation="tanh"),
             _node("dense2", "dense", 2, units=2, activation="tanh"),
             _node("output", "output", 3, task="classification", units=1, activation="identity")]
    return _document("TensorFlow Playground default", "2 inputs, hidden layers of 4 and 2 (tanh), 1 output.",
                     nodes, _chain(*nodes), {"name": "circle", "params": {}},
                     optimizer="sgd", learning_rate=0.03, batch_size=10, init="uniform", epochs=200)


def _deep_mlp() -> dict:
    nodes = [_node("input", "input", 0)]
    nodes += [_node(f"dense{i}", "dense", i, units=16, activation="relu") for i in range(1, 5)]
    nodes.append(_node("output", "output", 5))
    return _document("Deeper MLP", "Four hidden ReLU layers of 16 on the spiral.", nodes, _chain(*nodes),
                     {"name": "spiral", "params": {}}, optimizer="adam", learning_rate=0.01, epochs=200)


def _lenet() -> dict:
    nodes = [_node("input", "input", 0),
             _node("conv1", "conv2d", 1, out_channels=6, kernel_size=3, padding="same"),
             _node("pool1", "maxpool2d", 2), _node("conv2", "conv2d", 3, out_channels=16, kernel_size=3,
                                                   padding="same"),
             _node("pool2", "maxpool2d", 4), _node("flatten", "flatten", 5),
             _node("dense1", "dense", 6, units=32), _node("output", "output", 7)]
    return _document("LeNet-style CNN", "[conv - relu - pool] x 2, then dense: 8x8 digits.", nodes,
                     _chain(*nodes), {"name": "digits", "params": {}}, batch_size=32, epochs=30,
                     learning_rate=0.005)


def _residual() -> dict:
    nodes = [_node("input", "input", 0), _node("dense1", "dense", 1, units=16),
             _node("dense2", "dense", 2, row=1, units=16),
             _node("dense3", "dense", 3, row=1, units=16, activation="identity"),
             _node("add", "add", 4), _node("relu", "relu", 5), _node("output", "output", 6)]
    edges = _chain(*nodes[:4]) + [{"source": "dense1", "target": "add", "slot": 0},
                                  {"source": "dense3", "target": "add", "slot": 1}] + _chain(*nodes[4:])
    return _document("Residual block", "A skip connection: output = relu(x + F(x)).", nodes, edges,
                     {"name": "spiral", "params": {}}, epochs=200)


def _lstm() -> dict:
    nodes = [_node("input", "input", 0), _node("rows", "reshape", 1, shape=[8, 8]),
             _node("lstm", "lstm", 2, hidden_size=32, return_sequences=False), _node("output", "output", 3)]
    return _document("LSTM sequence classifier", "Reads each 8x8 digit row by row (8 steps of 8 pixels).",
                     nodes, _chain(*nodes), {"name": "digits", "params": {}}, batch_size=32, epochs=30)


def _seq2seq() -> dict:
    nodes = [_node("source", "input", 0, shape=[10], dtype="tokens", vocab_size=16),
             _node("source_embed", "embedding", 1, dim=32),
             _node("encoder", "lstm", 2, hidden_size=32),
             _node("target", "input", 0, row=1, shape=[10], dtype="tokens", vocab_size=16),
             _node("target_embed", "embedding", 1, row=1, dim=32),
             _node("decoder", "lstm", 2, row=1, hidden_size=32),
             _node("attention", "cross_attention", 3, row=1, num_heads=1),
             _node("join", "concat", 4, row=1),
             _node("output", "output", 5, row=1, task="classification", units=16)]
    edges = _chain(*nodes[0:3]) + _chain(*nodes[3:6]) + [
        {"source": "decoder", "target": "attention", "slot": 0},
        {"source": "encoder", "target": "attention", "slot": 1},
        {"source": "attention", "target": "join", "slot": 0},
        {"source": "decoder", "target": "join", "slot": 1},
        {"source": "join", "target": "output", "slot": 0}]
    return _document("Seq2seq with attention", "Encoder LSTM, decoder LSTM (teacher forcing) and "
                     "cross-attention from decoder to encoder; one token predicted per step.",
                     nodes, edges, None)


def _autoencoder() -> dict:
    nodes = [_node("input", "input", 0), _node("flatten", "flatten", 1),
             _node("encode", "dense", 2, units=32), _node("code", "dense", 3, units=2, activation="identity"),
             _node("decode", "dense", 4, units=32),
             _node("output", "output", 5, task="reconstruction", activation="sigmoid")]
    return _document("Autoencoder", "Squeeze 8x8 digits through a 2-number code and rebuild them.",
                     nodes, _chain(*nodes), {"name": "digits", "params": {}}, loss="mse", batch_size=32,
                     epochs=50)


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("playground", "TensorFlow Playground default", "The 2-4-2-1 tanh net on the circle.",
               _playground()),
        Preset("deep_mlp", "Deeper MLP", "Four ReLU layers that can fit the spiral.", _deep_mlp()),
        Preset("lenet", "LeNet-style CNN", "Convolutions and pooling on 8x8 digits.", _lenet()),
        Preset("residual", "Residual block", "A skip connection merged with Add.", _residual()),
        Preset("lstm", "LSTM classifier", "A recurrent net reading digits row by row.", _lstm()),
        Preset("seq2seq", "Seq2seq with attention", "Encoder-decoder LSTMs joined by attention.",
               _seq2seq()),
        Preset("autoencoder", "Autoencoder", "Rebuild the input through a 2-D bottleneck.", _autoencoder()),
    )
}
