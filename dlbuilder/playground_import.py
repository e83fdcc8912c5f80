"""Import a TensorFlow Playground link: its URL hash (src/state.ts) becomes a dlbuilder document.

The import mirrors Playground rather than modernising it: hidden Dense layers with the chosen
activation, an output neuron with tanh for classification (targets -1/+1, the sign is the
class) or identity for regression, Playground's loss (p - t)^2 / 2 averaged over each batch
(`half_mse`), plain SGD, weights uniform in [-0.5, 0.5] with biases 0.1, no validation split
and no reshuffling: every epoch walks the training set in the same order, as Playground's
oneStep does. From the same weights and points an import trains step for step like
Playground (tests/test_playground_fidelity.py). Differences that stay are listed as import
warnings; always: the random generators differ, so the points are drawn alike but are not
the same points, and initZero here zeros the biases too (Playground keeps 0.1).
"""

from __future__ import annotations

import math
import re
import zlib
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from dlbuilder.datasets.common import split_sizes
from dlbuilder.document import SCHEMA_VERSION, Document, load_document
from dlbuilder.presets import X_STEP
from dlbuilder.training.settings import TRAINING_PARAMS

MAX_URL_CHARS = 4_000
MAX_HIDDEN_LAYERS = 6  # Playground's "+ layers" button stops at 6
MAX_NEURONS = 8  # and "+ neurons" at 8 per layer
EPOCHS = 500  # Playground trains until paused; 500 epochs is a long look at it

# Playground key -> dlbuilder dataset name
CLASSIFICATION_SETS = {"circle": "circle", "xor": "xor", "gauss": "gaussian", "spiral": "spiral"}
REGRESSION_SETS = {"reg-plane": "plane", "reg-gauss": "multi_gaussian"}
ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "sigmoid": "sigmoid", "linear": "identity"}
REGULARIZATIONS = ("none", "L1", "L2")
PROBLEMS = ("classification", "regression")
# Playground input switch -> dlbuilder dataset feature switch (same order as Playground's INPUTS)
FEATURES = {"x": "x", "y": "y", "xSquared": "x_squared", "ySquared": "y_squared",
            "xTimesY": "x_times_y", "sinX": "sin_x", "sinY": "sin_y"}
UNSUPPORTED_FEATURES = ("cosX", "cosY")
# State.PROPS of state.ts: a link naming none of these is not a Playground link
KNOWN_KEYS = frozenset({"activation", "regularization", "batchSize", "dataset", "regDataset",
                        "learningRate", "regularizationRate", "noise", "networkShape", "seed",
                        "showTestData", "discretize", "percTrainData", *FEATURES,
                        *UNSUPPORTED_FEATURES, "collectStats", "tutorial", "problem", "initZero",
                        "hideText"})
# Playground's defaults (State in state.ts), used for keys the link leaves out
DEFAULTS = {"activation": "tanh", "regularization": "none", "batchSize": "10", "dataset": "circle",
            "regDataset": "reg-plane", "learningRate": "0.03", "regularizationRate": "0",
            "noise": "0", "networkShape": "4,2", "percTrainData": "50", "problem": "classification",
            "initZero": "false", "x": "true", "y": "true"}
# ASCII digits only: str.isdigit and re's \d also accept "²" or "٣", which int() refuses or reads
SEED_PATTERN = re.compile(r"0\.([0-9]{1,9})")
WHOLE_PATTERN = re.compile(r"[0-9]{1,3}")
NUMBER_PATTERN = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")


class PlaygroundImportError(ValueError):
    """A link that is not a usable Playground link; the message says what is wrong, in one line."""


@dataclass
class ImportResult:
    """The imported document and what could not be carried over, one line each."""

    document: Document
    warnings: list[str] = field(default_factory=list)


def parse_state(url_or_hash: str) -> dict[str, str]:
    """Playground's key=value pairs from a full URL, its '#...' hash or the bare 'a=b&c=d' part."""
    text = url_or_hash.strip() if isinstance(url_or_hash, str) else ""
    if not text:
        raise PlaygroundImportError("paste a TensorFlow Playground link (it starts with "
                                    "https://playground.tensorflow.org/#)")
    if len(text) > MAX_URL_CHARS:
        raise PlaygroundImportError(f"this text has {len(text):,} characters, far more than a Playground "
                                    "link: copy just the address")
    if "#" in text:
        text = text.split("#", 1)[1]
    elif "://" in text:
        text = urlsplit(text).query
    text = text.lstrip("?")
    state = {}
    for pair in text.split("&"):
        name, _, value = pair.partition("=")
        state[unquote(name).strip()] = unquote(value).strip()
    if not KNOWN_KEYS & state.keys():
        raise PlaygroundImportError("this is not a TensorFlow Playground link: copy the address from "
                                    "playground.tensorflow.org after changing a setting there")
    return {**DEFAULTS, **{k: v for k, v in state.items() if v or k == "networkShape"}}


def _number(state: dict, key: str, low: float, high: float, whole: bool = False) -> float:
    text = state[key]
    # float() alone would also take "1_0", "٣" or "infinity", which Playground's Number() refuses
    value = float(text) if NUMBER_PATTERN.fullmatch(text) else math.nan
    if not math.isfinite(value) or (whole and not value.is_integer()) or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise PlaygroundImportError(f"{key}={text[:20]!r} in the link must be {kind} from {low:g} "
                                    f"to {high:g}: copy the link from Playground again")
    return int(value) if whole else value


def _choice(state: dict, key: str, choices) -> str:
    if state[key] not in choices:
        raise PlaygroundImportError(f"{key}={state[key][:20]!r} is not something this importer "
                                    f"knows (it knows: {', '.join(choices)})")
    return state[key]


def _switch(state: dict, key: str) -> bool:
    if key not in state:
        return False
    if state[key] not in ("true", "false"):
        raise PlaygroundImportError(f"{key}={state[key][:20]!r} in the link must be true or false")
    return state[key] == "true"


def network_shape(state: dict) -> list[int]:
    """Neurons per hidden layer; empty for a network with no hidden layer."""
    text = state["networkShape"]
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if len(parts) > MAX_HIDDEN_LAYERS or not all(WHOLE_PATTERN.fullmatch(p) and 1 <= int(p) <= MAX_NEURONS
                                                  for p in parts):
        raise PlaygroundImportError(f"networkShape={text[:30]!r} must list at most {MAX_HIDDEN_LAYERS} "
                                    f"hidden layers of 1 to {MAX_NEURONS} neurons, e.g. 4,2")
    return [int(p) for p in parts]


def seed_number(seed: str | None) -> int:
    """Playground's seed text as a whole number: "0.80826" -> 80826, other text by checksum."""
    if not seed:
        return 0
    match = SEED_PATTERN.fullmatch(seed)
    return int(match.group(1)) if match else zlib.crc32(seed.encode("utf-8")) & 0x7FFFFFFF


def _features(state: dict, warnings: list[str]) -> dict[str, bool]:
    """dlbuilder feature switches; cos(x) and cos(y) have no counterpart and are dropped."""
    dropped = [key for key in UNSUPPORTED_FEATURES if _switch(state, key)]
    if dropped:
        warnings.append(f"input feature(s) {', '.join(dropped)} are not available here (today's "
                        "Playground does not draw them either) and were left out")
    features = {ours: _switch(state, theirs) for theirs, ours in FEATURES.items()}
    if not any(features.values()):
        raise PlaygroundImportError("the link switches every usable input feature off: turn on at "
                                    f"least one of {', '.join(FEATURES)} in Playground")
    return features


def _data(state: dict, problem: str, warnings: list[str]) -> dict:
    if problem == "classification":
        name = CLASSIFICATION_SETS[_choice(state, "dataset", CLASSIFICATION_SETS)]
    else:
        name = REGRESSION_SETS[_choice(state, "regDataset", REGRESSION_SETS)]
    params = {"noise": _number(state, "noise", 0, 50, whole=True),
              "train_fraction": _number(state, "percTrainData", 10, 90) / 100,
              "val_fraction": 0.0,  # Playground splits only into training and test data
              **_features(state, warnings)}
    return {"name": name, "params": params}


def _penalties(state: dict, warnings: list[str]) -> dict[str, float]:
    """Playground's regularization as dlbuilder's l1/l2 giving the same update, capped at the maximum.

    Playground moves each weight (not bias) by learningRate * rate * der(w): der is sign(w)
    for L1 and w for L2 (penalty w^2 / 2). dlbuilder's penalties l1 * |w| and l2 * w^2 have
    gradients l1 * sign(w) and 2 * l2 * w, so l1 = rate and l2 = rate / 2.
    """
    kind = _choice(state, "regularization", REGULARIZATIONS)
    rate = _number(state, "regularizationRate", 0, 10)
    penalties = {"l1": 0.0, "l2": 0.0}
    if kind == "none" or rate == 0:
        return penalties
    key = kind.lower()
    value = rate if key == "l1" else rate / 2
    limit = next(p.max for p in TRAINING_PARAMS if p.name == key)
    if value > limit:
        largest = limit if key == "l1" else 2 * limit
        warnings.append(f"regularization rate {rate:g} is above the largest {kind} rate allowed here; "
                        f"{largest:g} is used instead: pick at most {largest:g} in Playground to train alike")
    if key == "l1":
        warnings.append("L1 here pushes weights towards 0 and past it; Playground sets a weight that "
                        "crosses 0 to exactly 0 and freezes it, so with L1 the two drift apart")
    penalties[key] = float(min(value, limit))
    return penalties


def _batch_note(document: Document, warnings: list[str]) -> None:
    """Warn when the training set is not a whole number of batches (Playground treats the rest apart)."""
    params, batch_size = document.data.params, document.training["batch_size"]
    train, _, _ = split_sizes(params["num_samples"], params["train_fraction"], 0.0)
    if train % batch_size:
        warnings.append(f"{train} training points are not a whole number of batches of {batch_size}: "
                        f"Playground adds the last {train % batch_size} to the next pass's first update, "
                        "here they make a smaller update of their own; pick a batch size that divides "
                        f"{train} to train alike")


def _training(state: dict, warnings: list[str]) -> dict:
    return {"loss": "half_mse", "optimizer": "sgd",
            "learning_rate": _number(state, "learningRate", 1e-6, 10),
            "batch_size": _number(state, "batchSize", 1, 4096, whole=True),
            **_penalties(state, warnings),
            "init": "zeros" if _switch(state, "initZero") else "uniform",
            "shuffle": False,  # Playground walks its training points in one fixed order every epoch
            "epochs": EPOCHS}


def _nodes(shape: list[int], activation: str, problem: str) -> list[dict]:
    """Input, one Dense per hidden layer, Output; laid out left to right."""
    nodes = [{"id": "input", "type": "input", "params": {}, "position": [0, 0]}]
    for index, units in enumerate(shape, start=1):
        nodes.append({"id": f"dense{index}", "type": "dense", "position": [index * X_STEP, 0],
                      "params": {"units": units, "activation": activation}})
    # Playground's output neuron: tanh for classes (sign = class), linear for values
    output_activation = "tanh" if problem == "classification" else "identity"
    nodes.append({"id": "output", "type": "output", "position": [(len(shape) + 1) * X_STEP, 0],
                  "params": {"task": problem, "units": 1, "activation": output_activation}})
    return nodes


def import_playground(url_or_hash: str) -> ImportResult:
    """Read a Playground link into a document; warnings list what could not be carried over."""
    state = parse_state(url_or_hash)
    warnings: list[str] = []
    problem = _choice(state, "problem", PROBLEMS)
    activation = ACTIVATIONS[_choice(state, "activation", ACTIVATIONS)]
    shape = network_shape(state)
    data = _data(state, problem, warnings)
    training = _training(state, warnings)
    nodes = _nodes(shape, activation, problem)
    edges = [{"source": a["id"], "target": b["id"], "slot": 0} for a, b in zip(nodes, nodes[1:])]
    layers = "-".join(str(n) for n in [sum(data["params"][f] for f in FEATURES.values()), *shape, 1])
    raw = {"schema_version": SCHEMA_VERSION, "name": f"Playground {layers} on {data['name']}",
           "description": f"A {layers} {state['activation']} network on {data['name']} (noise "
                          f"{data['params']['noise']}), imported from TensorFlow Playground.",
           "network": {"nodes": nodes, "edges": edges}, "data": data,
           "training": training, "seed": seed_number(state.get("seed"))}
    document = load_document(raw)
    _batch_note(document, warnings)
    return ImportResult(document, warnings)


def document_from_playground(url_or_hash: str) -> Document:
    """The document of a Playground link (use import_playground to see what was left out)."""
    return import_playground(url_or_hash).document
