"""The document format: round trips, defaults, and every reason a file is refused."""

from __future__ import annotations

import copy
import json
import keyword
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlbuilder.document import MAX_DOCUMENT_BYTES, Document, DocumentError, load_document
from dlbuilder.document_reader import ID_PATTERN, RESERVED_IDS
from dlbuilder.layers.base import ACTIVATION_NAMES
from dlbuilder.presets import PRESETS
from dlbuilder.training.settings import TRAINING_PARAMS
from dlbuilder.validation import validate
from tests.networks import document_dict, input_node


def chain(*extra_nodes: dict) -> dict:
    """Input [2] -> extra nodes... -> Output(regression, 1), as a raw document dict."""
    nodes = [input_node("x_in", [2]), *extra_nodes,
             {"id": "out", "type": "output", "params": {"task": "regression", "units": 1}}]
    edges = [(a["id"], b["id"], 0) for a, b in zip(nodes, nodes[1:])]
    return document_dict(nodes, edges)


def problems_of(source) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        load_document(source)
    assert caught.value.problems, "a DocumentError must say why"
    return caught.value.problems


# --- round trips and defaults -------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name):
    document = PRESETS[name].load()
    first = document.to_dict()
    again = load_document(json.dumps(first)).to_dict()
    assert again == first
    assert load_document(document.to_json(indent=None)).to_dict() == first
    assert load_document(document.to_json().encode()).to_dict() == first
    # the stored dict is a copy: editing it does not change the document
    first["network"]["nodes"][0]["params"]["injected"] = 1
    assert "injected" not in document.nodes[0].params


def test_preset_document_is_not_shared_between_loads():
    first = PRESETS["playground"].load()
    first.nodes[1].params["units"] = 99
    assert PRESETS["playground"].load().nodes[1].params["units"] == 4


def test_defaults_are_filled_everywhere():
    raw = {"schema_version": 1, "network": {
        "nodes": [{"id": "d", "type": "dense"}, {"id": "c", "type": "conv2d", "params": {"out_channels": 4}}],
        "edges": [{"source": "d", "target": "c"}]}, "data": {"name": "circle"}}
    document = load_document(raw)
    assert document.name == "untitled" and document.description == "" and document.seed == 0
    assert document.node("d").params == {"units": 8, "activation": "relu", "bias": True}
    assert document.node("c").params == {"out_channels": 4, "kernel_size": 3, "stride": 1, "padding": 0,
                                         "activation": "relu", "bias": True}
    assert document.node("d").position is None
    assert document.edges[0].slot == 0
    assert document.training["optimizer"] == "adam" and document.training["learning_rate"] == 0.01
    assert document.training["batch_size"] == 10 and document.training["early_stopping"] is False
    assert list(document.training) == [p.name for p in TRAINING_PARAMS]
    assert document.data.name == "circle" and document.data.params  # dataset defaults filled
    # defaults survive the round trip unchanged
    assert load_document(document.to_json()).to_dict() == document.to_dict()


def test_given_values_are_kept_and_not_replaced_by_defaults():
    raw = chain({"id": "hidden", "type": "dense", "params": {"units": 3, "activation": "tanh", "bias": False}})
    raw["training"] = {"optimizer": "sgd", "learning_rate": 0.5}
    raw["seed"] = 1234
    document = load_document(raw)
    assert document.node("hidden").params == {"units": 3, "activation": "tanh", "bias": False}
    assert document.training["optimizer"] == "sgd" and document.training["learning_rate"] == 0.5
    assert document.seed == 1234


def test_positions_near_the_bound_survive_rounding():
    # to_dict rounds positions to 0.1; a position that rounds up to the bound must still load
    raw = chain({"id": "hidden", "type": "dense", "position": [999999.96, -999999.96]})
    document = load_document(raw)
    reloaded = load_document(document.to_json())
    assert reloaded.node("hidden").position == (1e6, -1e6)


# --- property test: random valid chains round-trip exactly ----------------------------------

node_ids = st.from_regex(ID_PATTERN, fullmatch=True).filter(
    lambda s: s not in RESERVED_IDS and not keyword.iskeyword(s))
coordinates = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
dense_params = st.fixed_dictionaries({"units": st.integers(1, 1_000_000),
                                      "activation": st.sampled_from(ACTIVATION_NAMES),
                                      "bias": st.booleans()})


@st.composite
def chains(draw) -> dict:
    ids = draw(st.lists(node_ids, min_size=2, max_size=7, unique=True))
    first, *hidden, last = ids
    nodes = [{"id": first, "type": "input", "params": {"shape": [draw(st.integers(1, 64))]}}]
    nodes += [{"id": node_id, "type": "dense", "params": draw(dense_params)} for node_id in hidden]
    nodes.append({"id": last, "type": "output", "params": {"units": draw(st.integers(0, 10))}})
    for node in nodes:
        if draw(st.booleans()):
            node["position"] = [draw(coordinates), draw(coordinates)]
    edges = [(a["id"], b["id"], 0) for a, b in zip(nodes, nodes[1:])]
    return document_dict(nodes, edges, name=draw(st.text(max_size=60)),
                         description=draw(st.text(max_size=200)), seed=draw(st.integers(0, 2**31 - 1)))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chains())
def test_random_chains_round_trip_exactly(raw):
    document = load_document(raw)
    assert [n.id for n in document.nodes] == [n["id"] for n in raw["network"]["nodes"]]
    assert document.name == raw["name"] and document.description == raw["description"]
    for node, given_node in zip(document.nodes, raw["network"]["nodes"]):
        for key, value in given_node.get("params", {}).items():
            assert node.params[key] == value
    once = document.to_dict()
    for text in (document.to_json(), document.to_json(indent=None)):
        assert load_document(text).to_dict() == once
    assert load_document(document.to_json().encode("utf-8")).to_dict() == once


# --- refusals: each names the offending thing ------------------------------------------------

def test_not_json_is_refused_in_one_line():
    for text in ("{not json", "", b"\xff\xfe\x00\x81garbage", b"\x89PNG\r\n\x1a\n\x00\x00"):
        (problem,) = problems_of(text)
        assert problem.startswith("not valid JSON") and "\n" not in problem


@pytest.mark.parametrize("value", ["null", "[]", "42", '"text"'])
def test_a_document_must_be_an_object(value):
    (problem,) = problems_of(value)
    assert "must be a JSON object" in problem


@pytest.mark.parametrize("version", [None, 0, "1", True, 1.0])
def test_schema_version_must_be_a_known_whole_number(version):
    raw = chain()
    raw["schema_version"] = version
    (problem,) = problems_of(raw)
    assert "schema_version must be a whole number from 1 to 1" in problem


def test_newer_schema_version_says_update():
    raw = chain()
    raw["schema_version"] = 99
    (problem,) = problems_of(json.dumps(raw))
    assert "schema_version 99" in problem and "newer" in problem


@pytest.mark.parametrize("where, expected", [
    ("top", "document: unknown key 'evil'"),
    ("network", "network: unknown key 'evil'"),
    ("node", "hidden: unknown key 'evil'"),
    ("edge", "edge #1: unknown key 'evil'"),
    ("data", "data: unknown key 'evil'"),
    ("training", "training: unknown setting 'evil'"),
    ("data params", "data (circle): unknown setting 'evil'"),
])
def test_unknown_keys_are_refused_at_every_level(where, expected):
    raw = chain({"id": "hidden", "type": "dense"})
    raw["data"] = {"name": "circle", "params": {}}
    raw["training"] = {}
    target = {"top": raw, "network": raw["network"], "node": raw["network"]["nodes"][1],
              "edge": raw["network"]["edges"][0], "data": raw["data"], "training": raw["training"],
              "data params": raw["data"]["params"]}[where]
    target["evil"] = 1
    (problem,) = problems_of(raw)
    assert problem.startswith(expected)


@pytest.mark.parametrize("layer_type", ["os.system", "__import__", "torch.nn.Linear", "Dense", ""])
def test_unknown_layer_types_are_refused_by_name(layer_type):
    (problem,) = problems_of(chain({"id": "evil", "type": layer_type}))
    assert problem.startswith(f"evil: unknown layer type {layer_type!r}")
    assert "dense" in problem  # lists the known types


def test_non_text_layer_type_is_refused():
    (problem,) = problems_of(chain({"id": "evil", "type": ["dense"]}))
    assert problem.startswith("evil: unknown layer type")


@pytest.mark.parametrize("node_id", ["__class__", "__init__", "_private", "Dense1", "1dense", "a-b", "a b",
                                     "x" * 41, "", "dense.weight"])
def test_ids_outside_the_pattern_are_refused(node_id):
    problem = problems_of(chain({"id": node_id, "type": "dense"}))[0]  # edges to an over-long id fail too
    assert f"id {node_id[:40]!r}" in problem and "must start with a lowercase letter" in problem


@pytest.mark.parametrize("node_id", ["forward", "self", "state_dict", "training", "capture", "x"])
def test_reserved_ids_are_refused(node_id):
    (problem,) = problems_of(chain({"id": node_id, "type": "dense"}))
    assert problem == f"{node_id}: this id is reserved by Python/PyTorch: rename the node"


@pytest.mark.parametrize("node_id", ["class", "import", "lambda", "return", "def"])
def test_python_keywords_are_refused_as_ids(node_id):
    (problem,) = problems_of(chain({"id": node_id, "type": "dense"}))
    assert f"id {node_id!r}" in problem


def test_non_text_id_is_refused():
    raw = chain({"id": "hidden", "type": "dense"})
    raw["network"]["nodes"][1]["id"] = 7
    problem = problems_of(raw)[0]
    assert problem.startswith("node #2: id '7'")


def test_duplicate_ids_are_refused():
    (problem,) = problems_of(chain({"id": "hidden", "type": "dense"}, {"id": "hidden", "type": "relu"}))
    assert problem == "hidden: two nodes have this id: rename one"


def test_unknown_parameter_names_the_node_and_the_parameter():
    (problem,) = problems_of(chain({"id": "hidden", "type": "dense", "params": {"unit": 4}}))
    assert problem.startswith("hidden: Dense has no parameter 'unit'") and "units" in problem


@pytest.mark.parametrize("dataset", ["os.system", "../../etc/passwd", "Circle"])
def test_unknown_dataset_is_refused_by_name(dataset):
    raw = chain()
    raw["data"] = {"name": dataset, "params": {}}
    (problem,) = problems_of(raw)
    assert problem.startswith(f"data: unknown dataset {dataset!r}") and "circle" in problem


def test_every_problem_is_listed_at_once():
    raw = chain({"id": "evil", "type": "os.system"}, {"id": "forward", "type": "dense"},
                {"id": "hidden", "type": "dense", "params": {"colour": "red"}})
    raw["data"] = {"name": "nope"}
    problems = problems_of(raw)
    assert len(problems) == 4
    assert any("'os.system'" in p for p in problems)
    assert any(p.startswith("forward:") for p in problems)
    assert any("'colour'" in p for p in problems)
    assert any("'nope'" in p for p in problems)


@pytest.mark.parametrize("position", [[1], [1, 2, 3], ["1", 2], [float("nan"), 0], [1e7, 0], [True, 0], "1,2"])
def test_bad_positions_are_refused(position):
    (problem,) = problems_of(chain({"id": "hidden", "type": "dense", "position": position}))
    assert problem == "hidden: position must be two numbers [x, y]"


@pytest.mark.parametrize("edge", [{"source": "x_in"}, {"source": "x_in", "target": 3},
                                  {"source": "x_in", "target": "out", "slot": 64},
                                  {"source": "x_in", "target": "out", "slot": -1},
                                  {"source": "x_in", "target": "out", "slot": True}, "x_in->out"])
def test_malformed_edges_are_refused(edge):
    raw = chain()
    raw["network"]["edges"] = [edge]
    (problem,) = problems_of(raw)
    assert problem.startswith("edge #1 must be")


def test_more_than_a_thousand_nodes_are_refused():
    raw = chain()
    raw["network"]["nodes"] = [{"id": f"n{i}", "type": "relu"} for i in range(1001)]
    (problem,) = problems_of(raw)
    assert problem == "network has 1,001 nodes; at most 1,000 can be read"
    raw["network"]["nodes"] = raw["network"]["nodes"][:1000]
    assert len(load_document(raw).nodes) == 1000  # the bound itself is allowed


def test_a_hundred_thousand_nodes_are_refused_as_dict_and_as_text():
    nodes = [{"id": f"n{i}", "type": "relu"} for i in range(100_000)]
    raw = document_dict(nodes, [])
    (problem,) = problems_of(raw)
    assert "100,000 nodes" in problem
    (problem,) = problems_of(json.dumps(raw))
    assert "bytes; at most 1,000,000 allowed" in problem


def test_too_many_edges_are_refused():
    raw = chain()
    raw["network"]["edges"] = [{"source": "x_in", "target": "out"}] * 4001
    (problem,) = problems_of(raw)
    assert "at most 4,000" in problem


def test_documents_over_one_megabyte_are_refused():
    raw = chain()
    raw["description"] = "a" * MAX_DOCUMENT_BYTES
    (problem,) = problems_of(json.dumps(raw))
    assert problem.startswith(f"document is {len(json.dumps(raw)):,} bytes")


def test_long_texts_are_refused():
    raw = chain()
    raw["name"] = "n" * 2001
    (problem,) = problems_of(raw)
    assert problem == "name must be a text of at most 2000 characters"


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_hostile_nesting_is_refused(text):
    (problem,) = problems_of(text)
    assert problem == "document is nested too deeply to be a network"


@pytest.mark.parametrize("depth", [20, 500, 950])
def test_deep_values_inside_a_valid_document_are_refused(depth):
    # A deep list that json can still parse would overflow the stack later (repr, to_json).
    text = json.dumps(chain({"id": "hidden", "type": "dense", "params": {"units": 1}}))
    text = text.replace('"units": 1', '"units": ' + "[" * depth + "]" * depth)
    (problem,) = problems_of(text)
    assert problem == "document is nested too deeply to be a network"
    raw = chain({"id": "hidden", "type": "dense", "params": {"units": json.loads("[" * depth + "]" * depth)}})
    assert problems_of(raw) == [problem]


def test_document_error_message_summarises_many_problems():
    error = DocumentError([f"problem {i}" for i in range(6)])
    assert str(error) == "problem 0; problem 1; problem 2; and 3 more"
    assert len(error.problems) == 6
    assert str(DocumentError(["one", "two"])) == "one; two"


def test_huge_widths_validate_without_allocating():
    raw = document_dict([
        input_node("x_in", [1_000_000]),
        {"id": "wide", "type": "dense", "params": {"units": 1_000_000}},
        {"id": "huge", "type": "dense", "params": {"units": 10**9}},
        {"id": "out", "type": "output", "params": {"task": "regression", "units": 1_000_000}},
    ], [("x_in", "wide", 0), ("wide", "huge", 0), ("huge", "out", 0)])
    document = load_document(raw)
    tracemalloc.start()
    try:
        report = validate(document)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    # 10^12 weights would be 4 TB: counting them proves nothing was allocated
    assert report.param_counts["wide"] == 1_000_000 * 1_000_000 + 1_000_000
    assert ("params", "huge") in {(p.check, p.node) for p in report.problems}
    assert any(p.node == "huge" and "1000000000" in p.message for p in report.problems)
    assert any(p.node == "wide" and "units=1000000" in p.message for p in report.problems)


def test_document_from_dict_does_not_change_the_given_dict():
    raw = chain({"id": "hidden", "type": "dense"})
    before = copy.deepcopy(raw)
    Document.from_dict(raw)
    assert raw == before
