"""Importing TensorFlow Playground links: the mapping, what is refused, and that it trains."""

from __future__ import annotations

import pytest

from dlbuilder.playground_import import PlaygroundImportError, document_from_playground, import_playground, seed_number
from dlbuilder.training.trainer import Trainer
from dlbuilder.validation import validate

HASH = ("activation=tanh&batchSize=10&dataset=circle&regDataset=reg-plane&learningRate=0.03"
        "&regularizationRate=0&noise=0&networkShape=4,2&seed=0.80826&showTestData=false"
        "&discretize=false&percTrainData=50&x=true&y=true&xTimesY=false&xSquared=false"
        "&ySquared=false&cosX=false&sinX=false&cosY=false&sinY=false&collectStats=false"
        "&problem=classification&initZero=false&hideText=false")
URL = "https://playground.tensorflow.org/#" + HASH
FEATURES = ("x", "y", "x_squared", "y_squared", "x_times_y", "sin_x", "sin_y")


def imported(**changes: str):
    """Import the default link with some keys changed ("" leaves the value empty)."""
    pairs = dict(pair.split("=") for pair in HASH.split("&"))
    pairs.update(changes)
    result = import_playground(URL.split("#")[0] + "#" + "&".join(f"{k}={v}" for k, v in pairs.items()))
    assert validate(result.document).ok, validate(result.document).problems
    return result


def layers(document) -> list[tuple]:
    return [(n.id, n.type, n.params.get("units"), n.params.get("activation")) for n in document.nodes]


def test_the_default_link_gives_the_2_4_2_1_tanh_net_on_the_circle():
    result = import_playground(URL)
    document = result.document
    assert result.warnings == []
    assert validate(document).ok
    assert layers(document) == [("input", "input", None, None), ("dense1", "dense", 4, "tanh"),
                                ("dense2", "dense", 2, "tanh"), ("output", "output", 1, "tanh")]
    assert document.node("output").params["task"] == "classification"
    assert [(e.source, e.target) for e in document.edges] == [("input", "dense1"), ("dense1", "dense2"),
                                                               ("dense2", "output")]
    xs = [n.position[0] for n in document.nodes]
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert document.data.name == "circle"
    assert document.data.params == {"num_samples": 500, "noise": 0, "train_fraction": 0.5,
                                    "val_fraction": 0.0, "x": True, "y": True, "x_squared": False,
                                    "y_squared": False, "x_times_y": False, "sin_x": False,
                                    "sin_y": False}
    training = document.training
    assert (training["loss"], training["optimizer"], training["learning_rate"], training["batch_size"],
            training["l1"], training["l2"], training["init"]) == ("half_mse", "sgd", 0.03, 10, 0.0, 0.0,
                                                                  "uniform")
    assert training["shuffle"] is False
    assert document.seed == 80826
    assert document.name == "Playground 2-4-2-1 on circle"


@pytest.mark.parametrize("text", [HASH, "#" + HASH, "?" + HASH, "  " + URL + "\n",
                                  URL.replace("4,2", "4%2C2"), "http://localhost:5000/index.html#" + HASH])
def test_a_url_its_hash_or_its_query_part_give_the_same_document(text):
    assert document_from_playground(text).to_dict() == document_from_playground(URL).to_dict()


def test_keys_left_out_take_playgrounds_defaults():
    document = document_from_playground("https://playground.tensorflow.org/#dataset=xor")
    assert layers(document)[1:] == [("dense1", "dense", 4, "tanh"), ("dense2", "dense", 2, "tanh"),
                                    ("output", "output", 1, "tanh")]
    assert document.data.name == "xor" and document.training["learning_rate"] == 0.03
    assert document.seed == 0


def test_a_regression_link_gives_a_linear_output_and_squared_error():
    document = imported(problem="regression", regDataset="reg-gauss", activation="relu",
                        networkShape="8,8,8", dataset="nonsense").document
    assert layers(document)[1:] == [("dense1", "dense", 8, "relu"), ("dense2", "dense", 8, "relu"),
                                    ("dense3", "dense", 8, "relu"), ("output", "output", 1, "identity")]
    assert document.node("output").params["task"] == "regression"
    assert document.data.name == "multi_gaussian" and document.data.params["num_samples"] == 1200
    assert document.training["loss"] == "half_mse"
    assert imported(problem="regression").document.data.name == "plane"


@pytest.mark.parametrize("dataset, name", [("xor", "xor"), ("gauss", "gaussian"), ("spiral", "spiral")])
def test_each_classification_set_maps_to_its_counterpart(dataset, name):
    assert imported(dataset=dataset).document.data.name == name


@pytest.mark.parametrize("kind, key", [("L1", "l1"), ("L2", "l2")])
def test_regularization_becomes_l1_or_l2(kind, key):
    training = imported(regularization=kind, regularizationRate="0.03").document.training
    other = "l2" if key == "l1" else "l1"
    # the same update as Playground's: its L2 penalty is rate * w^2 / 2, dlbuilder's l2 * w^2
    assert training[key] == (0.03 if key == "l1" else 0.015) and training[other] == 0.0


def test_a_regularization_rate_above_the_limit_is_capped_with_a_warning():
    result = imported(regularization="L2", regularizationRate="3")
    assert result.document.training["l2"] == 1.0
    assert len(result.warnings) == 1 and "3" in result.warnings[0]


def test_a_rate_without_a_regularization_changes_nothing():
    training = imported(regularization="none", regularizationRate="0.3").document.training
    assert training["l1"] == training["l2"] == 0.0


def test_an_empty_network_shape_joins_input_to_output():
    document = imported(networkShape="").document
    assert [n.id for n in document.nodes] == ["input", "output"]
    assert [(e.source, e.target) for e in document.edges] == [("input", "output")]


def test_feature_switches_are_carried_over():
    document = imported(x="false", y="false", xSquared="true", xTimesY="true", sinY="true").document
    assert [f for f in FEATURES if document.data.params[f]] == ["x_squared", "x_times_y", "sin_y"]
    assert document.name.startswith("Playground 3-4-2-1")


def test_cosine_features_are_dropped_with_a_warning():
    result = imported(cosX="true", cosY="true")
    assert len(result.warnings) == 1 and "cosX, cosY" in result.warnings[0]
    assert [f for f in FEATURES if result.document.data.params[f]] == ["x", "y"]


def test_a_link_with_only_cosine_inputs_is_refused():
    with pytest.raises(PlaygroundImportError, match="at least one"):
        imported(x="false", y="false", cosX="true")


@pytest.mark.parametrize("activation, ours",
                         [("relu", "relu"), ("sigmoid", "sigmoid"), ("linear", "identity")])
def test_activations_map_by_name(activation, ours):
    assert imported(activation=activation).document.node("dense1").params["activation"] == ours


def test_init_zero_and_the_other_numbers():
    document = imported(initZero="true", learningRate="0.3", batchSize="25", noise="35",
                        percTrainData="70").document
    assert document.training["init"] == "zeros"
    assert (document.training["learning_rate"], document.training["batch_size"]) == (0.3, 25)
    assert (document.data.params["noise"], document.data.params["train_fraction"]) == (35, 0.7)


def test_seeds_map_to_whole_numbers_deterministically():
    assert seed_number("0.80826") == 80826
    assert seed_number("hello") == seed_number("hello") != seed_number("hellp")
    assert 0 <= seed_number("hello") < 2 ** 31
    assert seed_number(None) == seed_number("") == 0


@pytest.mark.parametrize("text, words", [
    ("", "paste"), ("hello world", "not a TensorFlow Playground"),
    ("https://example.com/page?q=1", "not a TensorFlow Playground"),
    (URL.replace("dataset=circle", "dataset=moon"), "dataset='moon'"),
    (URL.replace("activation=tanh", "activation=swish"), "activation='swish'"),
    (URL.replace("problem=classification", "problem=ranking"), "problem='ranking'"),
    (URL.replace("problem=classification", "problem=regression").replace("reg-plane", "reg-maximum"),
     "regDataset='reg-maximum'"),
    (URL.replace("regularizationRate=0", "regularization=L3&regularizationRate=0"), "regularization='L3'"),
    (URL.replace("4,2", "4,9"), "networkShape"), (URL.replace("4,2", "1,1,1,1,1,1,1"), "networkShape"),
    (URL.replace("4,2", "a,b"), "networkShape"), (URL.replace("4,2", "4,,2"), "networkShape"),
    (URL.replace("4,2", "0"), "networkShape"),
    (URL.replace("learningRate=0.03", "learningRate=fast"), "learningRate"),
    (URL.replace("learningRate=0.03", "learningRate=NaN"), "learningRate"),
    (URL.replace("learningRate=0.03", "learningRate=Infinity"), "learningRate"),
    (URL.replace("noise=0", "noise=60"), "noise"),
    (URL.replace("batchSize=10", "batchSize=2.5"), "batchSize"),
    (URL.replace("percTrainData=50", "percTrainData=95"), "percTrainData"),
    (URL.replace("x=true", "x=maybe"), "x='maybe'"), (URL + "&" * 4000, "characters"),
])
def test_bad_links_are_refused_saying_what_is_wrong(text, words):
    with pytest.raises(PlaygroundImportError) as caught:
        import_playground(text)
    message = str(caught.value)
    assert words in message and "\n" not in message


def test_the_imported_default_network_learns_the_circle():
    document = document_from_playground(URL)
    document.training.update(epochs=80, device="cpu")
    trainer = Trainer(document)
    while trainer.step():
        pass
    assert trainer.metrics.epochs()[-1].train_metric > 0.9
    assert trainer.test_results()["test_metric"] > 0.9
