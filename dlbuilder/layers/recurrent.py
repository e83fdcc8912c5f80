"""RNN, LSTM and GRU layers over sequences (T, F)."""

from __future__ import annotations

from dlbuilder import modules
from dlbuilder.layers.attention import check_padding_tokens
from dlbuilder.layers.base import LayerType, ShapeContext
from dlbuilder.layers.recipe import Call
from dlbuilder.params import Param
from dlbuilder.shapes import TensorSpec, require_rank

SEQUENCE_FIX = "feed it a sequence (T,F), e.g. from an Embedding or an Input of shape [T, F]"


def infer_recurrent(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> TensorSpec:
    spec = inputs[0]
    require_rank(spec, (2,), "a sequence (T,F)", SEQUENCE_FIX)
    if len(inputs) == 2:  # the token ids the sequence came from: padding (id 0) is skipped
        check_padding_tokens(inputs[1], 2, spec.shape[0], "sequence")
    features = params["hidden_size"] * (2 if params["bidirectional"] else 1)
    return TensorSpec((spec.shape[0], features) if params["return_sequences"] else (features,))


def _recipe_for(cell: str):
    def recipe(params: dict, inputs: list[TensorSpec], ctx: ShapeContext) -> Call:
        kwargs = {"num_layers": params["num_layers"], "bidirectional": params["bidirectional"],
                  "return_sequences": params["return_sequences"]}
        if cell == "rnn":
            kwargs["nonlinearity"] = params["nonlinearity"]
        return Call(modules.Recurrent, (cell, inputs[0].shape[1], params["hidden_size"]), kwargs)
    return recipe


def _params_for(cell: str) -> tuple[Param, ...]:
    common = (
        Param("hidden_size", "int", 32, "Size of the hidden state (memory) per direction.",
              min=1, max=100_000),
        Param("num_layers", "int", 1, "Stacked recurrent layers (a deep RNN).", min=1, max=8),
        Param("bidirectional", "bool", False, "Also read the sequence backwards and join both."),
        Param("return_sequences", "bool", True,
              "On: a hidden state per time step (T, H). Off: only the last one (H,)."),
    )
    if cell == "rnn":
        return common + (Param("nonlinearity", "choice", "tanh", "Activation of the simple RNN cell.",
                               choices=("tanh", "relu")),)
    return common


DOCS = {
    "rnn": "Simple recurrent layer: h_t = tanh(W x_t + U h_(t-1) + b).",
    "lstm": "Long short-term memory: gates decide what to keep, forget and output.",
    "gru": "Gated recurrent unit: an LSTM with fewer gates.",
}

PADDING_DOC = " Optional input 2: the token ids, so padding (id 0) is skipped in both directions."

RECURRENT_LAYERS = {
    cell: LayerType(cell, cell.upper(), "recurrent", DOCS[cell] + PADDING_DOC, params=_params_for(cell),
                    infer=infer_recurrent, recipe=_recipe_for(cell), width_params=("hidden_size",),
                    max_inputs=2)
    for cell in ("rnn", "lstm", "gru")
}
