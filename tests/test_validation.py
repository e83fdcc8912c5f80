"""Mutation tests: break one thing in a valid preset, expect exactly that one problem."""

from __future__ import annotations

import copy
import json

import pytest

from dlbuilder.document import DocumentError, load_document
from dlbuilder.limits import ResourceLimits
from dlbuilder.presets import PRESETS
from dlbuilder.validation import ValidationReport, validate

# Hand-counted: weights + biases of each layer (LSTM: 4 gates * (in*H + H*H + 2H)).
EXPECTED_PARAMETERS = {
    "playground": (2 * 4 + 4) + (4 * 2 + 2) + (2 * 1 + 1),  # 25
    "deep_mlp": (2 * 16 + 16) + 3 * (16 * 16 + 16) + (16 * 2 + 2),  # 898
    "lenet": (1 * 6 * 9 + 6) + (6 * 16 * 9 + 16) + (16 * 2 * 2 * 32 + 32) + (32 * 10 + 10),  # 3350
    "residual": (2 * 16 + 16) + 2 * (16 * 16 + 16) + (16 * 2 + 2),  # 626
    "lstm": 4 * (8 * 32 + 32 * 32 + 2 * 32) + (32 * 10 + 10),  # 5706
    # date_translation: 45 source and 15 target tokens. Embeddings, a bidirectional LSTM encoder (2 x 32),
    # an LSTM decoder (64), attention (q, k, v, out projections with biases), Dense 128 -> 64, output
    "seq2seq": 45 * 32 + 15 * 32 + 2 * 4 * (32 * 32 + 32 * 32 + 2 * 32) + 4 * (32 * 64 + 64 * 64 + 2 * 64)
    + 4 * (64 * 64 + 64) + (128 * 64 + 64) + (64 * 15 + 15),  # 69,775
    # slot_filling: 139 words, 4 tags, 16 steps
    "lstm_slot_filler": 139 * 32 + 4 * (32 * 64 + 64 * 64 + 2 * 64) + (64 * 4 + 4),  # 29,796
    "gru_tagger": 139 * 32 + 2 * 3 * (32 * 32 + 32 * 32 + 2 * 32) + (64 * 4 + 4),  # 17,380
    # embedding, learned positions, attention, 2 LayerNorms, feed-forward 64 -> 128 -> 64, output
    "transformer_tagger": 139 * 64 + 16 * 64 + 4 * (64 * 64 + 64) + 2 * 2 * 64 + (64 * 128 + 128)
    + (128 * 64 + 64) + (64 * 4 + 4),  # 43,652
    "parity_rnn": (1 * 32 + 32 * 32 + 2 * 32) + (32 * 2 + 2),  # 1,186
    "parity_lstm": 4 * (1 * 32 + 32 * 32 + 2 * 32) + (32 * 2 + 2),  # 4,546
    "autoencoder": (64 * 32 + 32) + (32 * 2 + 2) + (2 * 32 + 32) + (32 * 64 + 64),  # 4354
}


def preset(name: str) -> dict:
    return copy.deepcopy(PRESETS[name].document)


def node(raw: dict, node_id: str) -> dict:
    return next(n for n in raw["network"]["nodes"] if n["id"] == node_id)


def edges(raw: dict) -> list[dict]:
    return raw["network"]["edges"]


def only_problem(raw: dict, limits: ResourceLimits | None = None):
    report = validate(load_document(raw), limits)
    assert len(report.problems) == 1, [str(p) for p in report.problems]
    return report.problems[0]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_with_the_hand_counted_parameters(name):
    report = validate(PRESETS[name].load())
    assert report.ok and report.problems == []
    assert report.total_params == EXPECTED_PARAMETERS[name]
    assert sorted(report.order) == sorted(n["id"] for n in PRESETS[name].document["network"]["nodes"])
    assert set(report.shapes) == set(report.order)


def test_playground_counts_and_shapes_per_node():
    report = validate(PRESETS["playground"].load())
    assert report.total_params == 25
    assert report.param_counts == {"input": 0, "dense1": 12, "dense2": 10, "output": 3}
    assert {k: v.shape for k, v in report.shapes.items()} == {
        "input": (2,), "dense1": (4,), "dense2": (2,), "output": (1,)}
    assert report.order == ["input", "dense1", "dense2", "output"]


def test_lenet_shapes_follow_pooling():
    shapes = {k: v.shape for k, v in validate(PRESETS["lenet"].load()).shapes.items()}
    assert shapes == {"input": (1, 8, 8), "conv1": (6, 8, 8), "pool1": (6, 4, 4), "conv2": (16, 4, 4),
                      "pool2": (16, 2, 2), "flatten": (64,), "dense1": (32,), "output": (10,)}


def test_topological_order_puts_every_source_first():
    report = validate(PRESETS["seq2seq"].load())
    position = {node_id: i for i, node_id in enumerate(report.order)}
    for edge in edges(PRESETS["seq2seq"].document):
        assert position[edge["source"]] < position[edge["target"]]


# --- one break, one problem ------------------------------------------------------------------

def test_out_of_range_kernel():
    raw = preset("lenet")
    node(raw, "conv1")["params"]["kernel_size"] = 99
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("params", "conv1")
    assert "kernel_size must be an integer from 1 to 15, got 99" in problem.message


def test_nan_dropout_probability():
    raw = preset("playground")
    raw["network"]["nodes"].insert(2, {"id": "drop", "type": "dropout", "params": {"p": 0.2}})
    edges(raw)[1]["target"] = "drop"
    edges(raw).append({"source": "drop", "target": "dense2", "slot": 0})
    assert validate(load_document(raw)).ok  # the mutation starts from a valid network
    node(raw, "drop")["params"]["p"] = float("nan")
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("params", "drop")
    assert "p must be a finite number, got nan" in problem.message
    # JSON text with a NaN literal is not a document at all (browsers could not read it back)
    with pytest.raises(DocumentError, match="NaN is not a number"):
        load_document(json.dumps(raw))


def test_same_source_twice_into_a_merge_is_allowed():
    raw = preset("residual")
    for edge in edges(raw):
        if edge["target"] == "add" and edge["slot"] == 1:
            edge["source"] = "dense1"  # add(dense1, dense1): legal, if odd
    raw["network"]["nodes"] = [n for n in raw["network"]["nodes"] if n["id"] not in ("dense2", "dense3")]
    raw["network"]["edges"] = [e for e in edges(raw) if {e["source"], e["target"]}.isdisjoint({"dense2", "dense3"})]
    assert validate(load_document(raw)).ok


def test_wrong_type_units():
    raw = preset("playground")
    node(raw, "dense1")["params"]["units"] = "eight"
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("params", "dense1")
    assert "units must be an integer from 1 to 1000000, got 'eight'" in problem.message


def test_whole_float_units_are_accepted_as_integers():
    raw = preset("playground")
    node(raw, "dense1")["params"]["units"] = 4.0
    report = validate(load_document(raw))
    assert report.ok and report.params["dense1"]["units"] == 4 and report.total_params == 25


def test_removed_flatten_asks_for_flatten():
    raw = preset("lenet")
    raw["network"]["nodes"] = [n for n in raw["network"]["nodes"] if n["id"] != "flatten"]
    raw["network"]["edges"] = [e for e in edges(raw) if "flatten" not in (e["source"], e["target"])]
    edges(raw).append({"source": "pool2", "target": "dense1", "slot": 0})
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("shape", "dense1")
    assert "an image (C,H,W) = (16, 2, 2)" in problem.message and "Flatten" in problem.message


def test_output_units_do_not_match_the_dataset():
    raw = preset("lenet")
    node(raw, "output")["params"]["units"] = 3
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("data", "output")
    assert "has 3 units but digits has 10 classes: set units to 10" in problem.message


def test_regression_on_a_classification_dataset():
    raw = preset("playground")
    node(raw, "output")["params"]["task"] = "regression"
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("data", "output")
    assert "predicts regression but circle is a classification dataset" in problem.message


def test_input_shape_that_does_not_fit_the_dataset():
    raw = preset("playground")
    node(raw, "input")["params"]["shape"] = [3]
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("data", "input")
    assert "has shape [3] but dataset circle gives [2]" in problem.message


def test_second_output_is_reported_once():
    raw = preset("playground")
    raw["network"]["nodes"].append({"id": "output2", "type": "output", "params": {"units": 1}})
    edges(raw).append({"source": "dense2", "target": "output2", "slot": 0})
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("ends", "output2")
    assert "second Output (output is the first)" in problem.message


def test_output_feeding_a_layer():
    raw = preset("playground")
    raw["network"]["nodes"].append({"id": "after", "type": "relu"})
    edges(raw).append({"source": "output", "target": "after", "slot": 0})
    report = validate(load_document(raw))
    assert [(p.check, p.node) for p in report.problems][0] == ("ends", "output")
    assert "cannot feed after" in report.problems[0].message


def test_cycle_through_add():
    raw = preset("residual")
    edges(raw).append({"source": "relu", "target": "add", "slot": 2})
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("cycle", "add")
    assert "part of a loop (add -> relu -> add)" in problem.message


def test_self_loop():
    raw = preset("playground")
    edges(raw).append({"source": "dense1", "target": "dense1", "slot": 1})
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("edges", "dense1")
    assert "connected to itself" in problem.message


def test_duplicate_edge():
    raw = preset("playground")
    edges(raw).append({"source": "dense1", "target": "dense2", "slot": 1})
    report = validate(load_document(raw))
    assert ("edges", "dense2") in [(p.check, p.node) for p in report.problems]
    assert any("connected to dense1 twice" in p.message for p in report.problems)


def test_disconnected_extra_node():
    raw = preset("playground")
    raw["network"]["nodes"].append({"id": "lonely", "type": "dense"})
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("arity", "lonely")
    assert "needs one input but has 0" in problem.message


def test_branch_that_leads_nowhere():
    raw = preset("playground")
    raw["network"]["nodes"].append({"id": "branch", "type": "dense"})
    edges(raw).append({"source": "dense1", "target": "branch", "slot": 0})
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("reachable", "branch")
    assert "does not lead to the output: connect it onwards" in problem.message  # not "output output"


def test_extra_input_that_leads_nowhere():
    raw = preset("playground")
    raw["network"]["nodes"].append({"id": "spare", "type": "input", "params": {"shape": [2]}})
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("reachable", "spare")


def test_same_padding_with_stride_two():
    raw = preset("lenet")
    node(raw, "conv1")["params"]["stride"] = 2
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("shape", "conv1")
    assert "padding 'same' needs stride 1" in problem.message


def test_heads_must_divide_features():
    raw = preset("seq2seq")
    node(raw, "attention")["params"]["num_heads"] = 3
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("shape", "attention")
    assert "64 features cannot be split into 3 heads" in problem.message


def test_token_ids_fed_to_dense_ask_for_an_embedding():
    raw = preset("seq2seq")
    embed = node(raw, "source_embed")
    embed["type"], embed["params"] = "dense", {"units": 32}
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("shape", "source_embed")
    assert "token ids" in problem.message and "Embedding" in problem.message


def test_concat_of_mismatched_images():
    raw = preset("lenet")
    raw["network"]["nodes"].append({"id": "join", "type": "concat"})
    raw["network"]["edges"] = [e for e in edges(raw) if e["source"] != "pool2"] + [
        {"source": "pool2", "target": "join", "slot": 0}, {"source": "pool1", "target": "join", "slot": 1},
        {"source": "join", "target": "flatten", "slot": 0}]
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("shape", "join")
    assert "(16, 2, 2)" in problem.message and "(6, 4, 4)" in problem.message


def test_concat_of_matching_images_joins_channels():
    raw = preset("lenet")
    raw["network"]["nodes"].append({"id": "join", "type": "concat"})
    raw["network"]["edges"] = [e for e in edges(raw) if e["source"] != "conv2"] + [
        {"source": "conv2", "target": "join", "slot": 0}, {"source": "pool1", "target": "join", "slot": 1},
        {"source": "join", "target": "pool2", "slot": 0}]
    report = validate(load_document(raw))
    assert report.ok
    assert report.shapes["join"].shape == (22, 4, 4) and report.shapes["flatten"].shape == (88,)


def test_edge_to_a_missing_node():
    raw = preset("playground")
    edges(raw).append({"source": "dense2", "target": "ghost", "slot": 0})
    problem = only_problem(raw)
    assert problem.check == "edges"
    assert problem.node is None  # the missing end cannot be highlighted; the message names both
    assert "dense2 -> ghost" in problem.message and "no node 'ghost'" in problem.message


def test_duplicated_slot_on_concat():
    raw = preset("seq2seq")
    next(e for e in edges(raw) if e["source"] == "decoder" and e["target"] == "join")["slot"] = 0
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("arity", "join")
    assert "slots 0, 0" in problem.message


def test_cross_attention_with_one_input():
    raw = preset("seq2seq")
    raw["network"]["edges"] = [e for e in edges(raw) if not (e["source"] in ("encoder", "source")
                                                            and e["target"] == "attention")]
    report = validate(load_document(raw))
    assert ("arity", "attention") in [(p.check, p.node) for p in report.problems]
    assert any("needs 2 inputs but has 1" in p.message for p in report.problems)


def test_parameter_cap_names_the_biggest_node():
    raw = preset("playground")
    node(raw, "dense1")["params"]["units"] = 4000
    node(raw, "dense2")["params"]["units"] = 4000
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("limits", "dense2")
    total = (2 * 4000 + 4000) + (4000 * 4000 + 4000) + (4000 + 1)
    assert f"{total:,} parameters" in problem.message and "5,000,000" in problem.message
    assert f"dense2 alone has {4000 * 4000 + 4000:,}" in problem.message


def test_custom_width_limit():
    raw = preset("playground")
    node(raw, "dense1")["params"]["units"] = 100
    assert validate(load_document(raw)).ok  # fine under the default limits
    problem = only_problem(raw, ResourceLimits(max_width=64))
    assert (problem.check, problem.node) == ("limits", "dense1")
    assert "units=100 is above this server's limit of 64" in problem.message


def test_other_limits():
    report = validate(PRESETS["lenet"].load(), ResourceLimits(max_input_values=63, max_activation_values=500))
    assert [(p.check, p.node) for p in report.problems] == [("limits", None), ("limits", "input")]
    assert "970 intermediate values" in report.problems[0].message  # 64+384+96+256+64+64+32+10
    report = validate(PRESETS["seq2seq"].load(), ResourceLimits(max_sequence_length=9))
    assert sorted(p.node for p in report.problems) == ["source", "target"]
    report = validate(PRESETS["lenet"].load(), ResourceLimits(max_nodes=7))
    assert [(p.check, p.node) for p in report.problems] == [("limits", None)]
    assert "8 nodes" in report.problems[0].message and not report.shapes


def test_limits_read_from_the_environment():
    limits = ResourceLimits.from_env({"DLBUILDER_MAX_WIDTH": "64", "DLBUILDER_MAX_NODES": "not a number"})
    assert limits.max_width == 64 and limits.max_nodes == ResourceLimits().max_nodes


def test_bad_training_and_dataset_settings_are_reported():
    raw = preset("playground")
    raw["training"]["learning_rate"] = 0
    problem = only_problem(raw)
    assert (problem.check, problem.node) == ("training", None)
    assert "learning_rate must be a number from" in problem.message


# --- several breaks, no cascades, the report --------------------------------------------------

def test_independent_breaks_are_all_reported_at_once():
    raw = preset("residual")
    node(raw, "dense2")["params"]["units"] = "eight"
    edges(raw).append({"source": "relu", "target": "relu", "slot": 1})
    raw["network"]["nodes"].append({"id": "lonely", "type": "dense"})
    report = validate(load_document(raw))
    assert sorted((p.check, p.node) for p in report.problems) == [
        ("arity", "lonely"), ("edges", "relu"), ("params", "dense2")]


def test_a_broken_node_does_not_cascade_downstream():
    raw = preset("lenet")
    node(raw, "conv1")["params"]["kernel_size"] = 99
    report = validate(load_document(raw))
    assert [(p.check, p.node) for p in report.problems] == [("params", "conv1")]
    assert set(report.shapes) == {"input"}  # nothing after conv1 could be inferred
    raw = preset("lenet")
    node(raw, "conv2")["params"]["stride"] = 2  # 'same' padding: shape problem in the middle
    report = validate(load_document(raw))
    assert [(p.check, p.node) for p in report.problems] == [("shape", "conv2")]
    assert set(report.shapes) == {"input", "conv1", "pool1"}


def test_problems_for_a_node():
    raw = preset("playground")
    node(raw, "dense1")["params"].update(units=0, activation="swish")
    report = validate(load_document(raw))
    assert [p.check for p in report.problems_for("dense1")] == ["params", "params"]
    assert report.problems_for("dense2") == []
    assert str(report.problems[0]).startswith("dense1: units must be")


def test_report_to_dict_structure():
    report = validate(PRESETS["playground"].load())
    assert report.to_dict() == {
        "valid": True, "problems": [],
        "nodes": {"input": {"shape": [2], "parameters": 0}, "dense1": {"shape": [4], "parameters": 12},
                  "dense2": {"shape": [2], "parameters": 10}, "output": {"shape": [1], "parameters": 3}},
        "total_parameters": 25}
    raw = preset("playground")
    node(raw, "dense2")["params"]["units"] = "two"
    result = validate(load_document(raw)).to_dict()
    json.dumps(result)  # JSON-ready
    assert result["valid"] is False
    assert result["problems"] == [{"check": "params", "node": "dense2",
                                   "message": "units must be an integer from 1 to 1000000, got 'two'"}]
    assert result["nodes"]["dense2"] == {"shape": None, "parameters": None}
    assert result["nodes"]["output"] == {"shape": None, "parameters": None}
    assert result["total_parameters"] == 12


def test_empty_report_is_ok():
    assert ValidationReport().ok and ValidationReport().total_params == 0


def test_network_without_ends():
    raw = {"schema_version": 1, "network": {"nodes": [{"id": "d", "type": "relu"}], "edges": []}}
    report = validate(load_document(raw))
    messages = [p.message for p in report.problems if p.check == "ends"]
    assert any("no Input" in m for m in messages) and any("no Output" in m for m in messages)
