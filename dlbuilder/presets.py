"""Ready-made networks as plain document data; each validates and compiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dlbuilder.document import SCHEMA_VERSION, Document, load_document

X_STEP, Y_STEP = 200, 130
# Default epochs of the sequence presets: enough to reach their targets on one CPU thread
# (bench/sequences.py measures them).
TAGGER_EPOCHS, PARITY_EPOCHS, SEQ2SEQ_EPOCHS = 10, 40, 10


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


def _edge(source: str, target: str, slot: int) -> dict:
    return {"source": source, "target": target, "slot": slot}


def _seq2seq() -> dict:
    # Luong-style: the decoder LSTM reads the target so far (teacher forcing in training, its own
    # outputs when decoding); its state asks the bidirectional encoder's states which source
    # characters matter now; the source's ids (edge into slot 2) keep padding out of the attention.
    nodes = [_node("source", "input", 0, dtype="tokens"), _node("source_embed", "embedding", 1, dim=32),
             _node("encoder", "lstm", 2, hidden_size=32, bidirectional=True),
             _node("target", "input", 0, row=1, dtype="tokens"),
             _node("target_embed", "embedding", 1, row=1, dim=32),
             _node("decoder", "lstm", 2, row=1, hidden_size=64),
             _node("attention", "cross_attention", 3, row=1, num_heads=1),
             _node("join", "concat", 4, row=1), _node("combine", "dense", 5, row=1, units=64, activation="tanh"),
             _node("output", "output", 6, row=1, task="classification")]
    edges = _chain(*nodes[0:3]) + _chain(*nodes[3:6]) + [
        _edge("source", "encoder", 1),  # the encoder skips the source's padding in both directions
        _edge("decoder", "attention", 0), _edge("encoder", "attention", 1), _edge("source", "attention", 2),
        _edge("attention", "join", 0), _edge("decoder", "join", 1)] + _chain(*nodes[7:])
    return _document("Seq2seq with attention for dates", "Rewrite dates such as 'Tuesday, November 2, 2021' "
                     "as 2021-11-02 character by character: a bidirectional LSTM encoder, an LSTM decoder "
                     "(teacher forcing in training, greedy decoding for predictions) and cross-attention "
                     "from decoder to encoder, whose map turns into an alignment as it learns.",
                     nodes, edges, {"name": "date_translation", "params": {}},
                     optimizer="adam", learning_rate=0.005, batch_size=64, epochs=SEQ2SEQ_EPOCHS, grad_clip=1.0)


def _tagger(name: str, description: str, recurrent: dict, epochs: int) -> dict:
    """Word ids -> Embedding -> one recurrent layer (every step) -> a tag per word, on slot_filling."""
    nodes = [_node("input", "input", 0, dtype="tokens"), _node("embed", "embedding", 1, dim=32),
             _node("recurrent", recurrent.pop("type"), 2, **recurrent),
             _node("output", "output", 3, task="classification")]
    # the Input's ids also go to the recurrent layer (slot 1): it skips padding in both directions
    edges = _chain(*nodes) + [_edge("input", "recurrent", 1)]
    return _document(name, description, nodes, edges, {"name": "slot_filling", "params": {}},
                     optimizer="adam", learning_rate=0.01, batch_size=32, epochs=epochs, grad_clip=1.0)


def _lstm_slot_filler() -> dict:
    return _tagger("LSTM slot filler", "Tag each word of a travel request (destination, origin, time, "
                   "other) with an LSTM reading left to right: 'arrive taipei' vs 'leave taipei'. It cannot "
                   "know the tag of a city whose verb comes later ('taipei is where i leave').",
                   {"type": "lstm", "hidden_size": 64}, TAGGER_EPOCHS)


def _gru_tagger() -> dict:
    return _tagger("Bidirectional GRU tagger", "A GRU reads each request forwards and another backwards; "
                   "each word's tag sees both sides, so 'taipei is where i leave' is tagged too.",
                   {"type": "gru", "hidden_size": 32, "bidirectional": True}, TAGGER_EPOCHS)


def _transformer_tagger() -> dict:
    # One encoder block (Vaswani et al. 2017): attention and a per-step feed-forward net, each added
    # back to its input (residual) and normalised; the Input's ids mask padding out of the attention.
    nodes = [_node("input", "input", 0, dtype="tokens"), _node("embed", "embedding", 1, dim=64),
             _node("position", "positional_encoding", 2, kind="learned"),
             _node("attention", "self_attention", 3, row=1, num_heads=4), _node("add1", "add", 4),
             _node("norm1", "layernorm", 5), _node("feed", "dense", 6, row=1, units=128),
             _node("project", "dense", 7, row=1, units=64, activation="identity"), _node("add2", "add", 8),
             _node("norm2", "layernorm", 9), _node("output", "output", 10, task="classification")]
    edges = _chain(*nodes[0:4]) + [_edge("input", "attention", 1), _edge("position", "add1", 0),
                                   _edge("attention", "add1", 1)] + _chain(*nodes[4:8]) + [
        _edge("norm1", "add2", 0), _edge("project", "add2", 1)] + _chain(*nodes[8:])
    return _document("Transformer tagger", "Slot filling with one transformer encoder block: positional "
                     "encoding, 4-head self-attention (padding masked), Add & LayerNorm, a per-word "
                     "feed-forward net, Add & LayerNorm, a tag per word.",
                     nodes, edges, {"name": "slot_filling", "params": {}},
                     optimizer="adam", learning_rate=0.002, batch_size=32, epochs=TAGGER_EPOCHS, grad_clip=1.0)


def _parity(cell: str) -> dict:
    """Bit strings (+1/-1 per step, padded at the front) -> one recurrent layer's last state -> even/odd."""
    nodes = [_node("input", "input", 0), _node("recurrent", cell, 1, hidden_size=32, return_sequences=False),
             _node("output", "output", 2, task="classification")]
    title = {"rnn": "Plain RNN", "lstm": "LSTM"}[cell]
    note = ("stays near chance at 16 bits: the error signal fades back through time (vanishing gradients)"
            if cell == "rnn" else "remembers every bit and reaches ~100%; the plain RNN preset on the same "
            "data stays near chance")
    return _document(f"{title} on parity", f"Is the number of 1s in a string of up to 16 bits odd? A {title} {note}.",
                     nodes, _chain(*nodes), {"name": "parity", "params": {}},
                     optimizer="adam", learning_rate=0.01, batch_size=32, epochs=PARITY_EPOCHS, grad_clip=1.0)


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
        Preset("seq2seq", "Seq2seq with attention for dates", "Encoder-decoder LSTMs joined by attention "
               "rewrite dates as 2021-11-02.", _seq2seq()),
        Preset("lstm_slot_filler", "LSTM slot filler", "Tag destination, origin and time in travel requests.",
               _lstm_slot_filler()),
        Preset("gru_tagger", "Bidirectional GRU tagger", "Slot filling reading both ways.", _gru_tagger()),
        Preset("transformer_tagger", "Transformer tagger", "Slot filling with one self-attention block.",
               _transformer_tagger()),
        Preset("parity_rnn", "RNN vs LSTM on parity: RNN", "A plain RNN fails to count bits mod 2.",
               _parity("rnn")),
        Preset("parity_lstm", "RNN vs LSTM on parity: LSTM", "An LSTM counts bits mod 2.", _parity("lstm")),
        Preset("autoencoder", "Autoencoder", "Rebuild the input through a 2-D bottleneck.", _autoencoder()),
    )
}
