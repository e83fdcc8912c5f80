"""Sequence and text datasets: layout, vocabularies, labels, unknown words, typed text, fit to networks."""

from __future__ import annotations

import copy
import datetime
import html
import re
import string

import numpy as np
import pytest
import torch

from dlbuilder.datasets import DATASETS
from dlbuilder.datasets.seq2seq import DATE_FORMATS
from dlbuilder.datasets.sequences import contains_pattern
from dlbuilder.datasets.text import (
    DESTINATION,
    DESTINATION_AFTER,
    DESTINATION_VERBS,
    ORIGIN,
    ORIGIN_AFTER,
    ORIGIN_VERBS,
    SEEN_CITIES,
    TAGS,
    UNSEEN_CITIES,
    VOCABULARY,
)
from dlbuilder.datasets.tokens import (
    END,
    IGNORE_INDEX,
    MAX_TEXT_CHARS,
    PAD,
    PAD_ID,
    START,
    UNK,
    UNK_ID,
    TokenError,
    as_batch,
    decode,
    encode,
    join_tokens,
    padding_mask,
    sequence_lengths,
    target_mask,
)
from dlbuilder import figures
from dlbuilder.compile import compile_graph
from dlbuilder.document import load_document
from dlbuilder.editing import set_dataset
from dlbuilder.presets import PRESETS
from dlbuilder.training.setup import prepare
from dlbuilder.validation import validate

torch.set_num_threads(1)

SETS = {"slot_filling": {"num_samples": 600}, "parity": {"num_samples": 400},
        "date_translation": {"num_samples": 600}, "reversal": {"num_samples": 400},
        "sine_wave": {"num_steps": 300}}
TOKEN_SETS = ("slot_filling", "date_translation", "reversal")
SPLITS = ("train", "val", "test")


def load(name: str, seed: int = 0, **params):
    return DATASETS[name].load({**SETS.get(name, {}), **params}, seed)


def text_of(ids, vocabulary) -> str:
    return join_tokens(decode(ids, vocabulary), vocabulary.level)


def all_tensors(bundle):
    for split in SPLITS:
        yield from bundle.inputs(split)
        yield getattr(bundle, f"y_{split}")


# -- every sequence set --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SETS))
def test_same_seed_same_data_other_seed_other_data(name):
    first, again, other = load(name, 3), load(name, 3), load(name, 4)
    assert all(torch.equal(a, b) for a, b in zip(all_tensors(first), all_tensors(again)))
    assert not torch.equal(first.x_train, other.x_train)
    assert first.info == DATASETS[name].describe(SETS[name])


@pytest.mark.parametrize("name", TOKEN_SETS)
def test_token_layout_pad_zero_unk_one_and_masks(name):
    bundle = load(name)
    info = bundle.info
    for vocabulary in {info.vocabulary, info.target_vocabulary} - {None}:
        assert vocabulary.tokens[PAD_ID] == PAD and vocabulary.tokens[UNK_ID] == UNK
    assert info.vocab_size == len(info.vocabulary) and info.input_dtype == "long"
    assert info.target_steps == bundle.y_train.shape[1]
    for split in SPLITS:
        inputs, y = bundle.inputs(split), getattr(bundle, f"y_{split}")
        assert len(inputs) == len(info.inputs())
        for tensor, wanted in zip(inputs, info.inputs()):
            assert tensor.dtype == torch.int64 and tuple(tensor.shape[1:]) == wanted.shape
            assert 0 <= tensor.min() and tensor.max() < wanted.vocab_size
            mask = padding_mask(tensor)
            lengths = sequence_lengths(tensor)
            # padded at the end: position t is real exactly when t < length
            assert torch.equal(mask, torch.arange(tensor.shape[1])[None, :] < lengths[:, None])
            assert lengths.min() >= 1
        assert y.dtype == torch.int64 and y.shape == (len(inputs[0]), info.target_steps)
        kept = y[target_mask(y)]
        assert 0 <= kept.min() and kept.max() < info.num_classes
        assert set(y[~target_mask(y)].tolist()) <= {IGNORE_INDEX}


@pytest.mark.parametrize("name", ["date_translation", "reversal"])
def test_seq2seq_decoder_input_is_the_target_shifted_right(name):
    bundle = load(name)
    info = bundle.info
    target = info.target_vocabulary
    assert info.class_names == target.tokens and info.more_inputs[0].vocabulary == target
    (decoder_input,) = bundle.more_x["train"]
    y = bundle.y_train
    start, end = target.id_of(START), target.id_of(END)
    assert (decoder_input[:, 0] == start).all()
    lengths = target_mask(y).sum(dim=1)  # target characters + <end>
    for row in range(len(y)):
        n = int(lengths[row])
        assert y[row, n - 1] == end and (y[row, :n - 1] != end).all()
        assert torch.equal(decoder_input[row, 1:n], y[row, :n - 1])  # teacher forcing
        assert (decoder_input[row, n:] == PAD_ID).all()


def test_bundle_to_moves_every_input():
    bundle = load("reversal").to("cpu")
    assert len(bundle.inputs("test")) == 2 and bundle.more_x["test"][0].device.type == "cpu"


# -- slot filling --------------------------------------------------------------------------------


def spans(tags: list[int]) -> list[tuple[int, int, int]]:
    """(start, end, tag) of each run of city words (destination or origin)."""
    found, start = [], None
    for i, tag in enumerate(tags + [-1]):
        if start is not None and tag != tags[start]:
            found.append((start, i, tags[start]))
            start = None
        if start is None and tag in (DESTINATION, ORIGIN):
            start = i
    return found


def tag_by_verb(words: list[str], start: int, end: int) -> int:
    """The tag the verb rule gives the city at words[start:end]."""
    def ends_with(phrases):
        return any(words[:start][-len(p.split()):] == p.split() for p in phrases)

    def follows(phrases):
        return any(words[end:end + 3 + len(p.split())] == ["is", "where", "i", *p.split()] for p in phrases)

    rules = [(ends_with(DESTINATION_VERBS), DESTINATION), (ends_with(ORIGIN_VERBS), ORIGIN),
             (follows(DESTINATION_AFTER), DESTINATION), (follows(ORIGIN_AFTER), ORIGIN)]
    matched = {tag for hit, tag in rules if hit}
    assert len(matched) == 1, words
    return matched.pop()


def test_every_city_is_tagged_by_its_verb():
    bundle = load("slot_filling", num_samples=2000)
    checked = {DESTINATION: 0, ORIGIN: 0}
    arrive_sentences = 0
    for ids, tags in zip(bundle.x_train, bundle.y_train):
        words = decode(ids, VOCABULARY)
        tags = [int(t) for t in tags if t != IGNORE_INDEX]
        assert len(words) == len(tags)
        for start, end, tag in spans(tags):
            assert tag == tag_by_verb(words, start, end)
            checked[tag] += 1
        if "arrive" in words:
            arrive_sentences += 1
            after = words.index("arrive") + 1 + (words[words.index("arrive") + 1] == "in")
            if after < len(words) and words[after] != "on" and tags[after] in (DESTINATION, ORIGIN):
                assert tags[after] == DESTINATION
    assert min(checked.values()) > 300 and arrive_sentences > 100


def test_verb_after_the_city_and_date_first_orders_occur():
    sentences = " | ".join(load("slot_filling", num_samples=2000).extras["test_sentences"])
    assert " is where i leave" in sentences and " is where i arrive" in sentences
    assert re.search(r"(^|\| )on \w+ \w+ (arrive|reach|fly to)", sentences)


def test_unseen_cities_only_in_test_and_unknown_to_the_vocabulary():
    bundle = load("slot_filling", num_samples=2000)
    unseen_rows = bundle.extras["test_unseen"]
    assert 0.2 < unseen_rows.float().mean() < 0.3  # unseen_share 0.25
    words = set(VOCABULARY.tokens)
    assert not words & set(UNSEEN_CITIES) and set(UNSEEN_CITIES) == set(bundle.extras["unseen_cities"])
    for row, sentence in enumerate(bundle.extras["test_sentences"]):
        x, y = bundle.x_test[row], bundle.y_test[row]
        city = (y == DESTINATION) | (y == ORIGIN)
        named = {c for c in UNSEEN_CITIES + SEEN_CITIES if f" {c} " in f" {sentence} "}
        if unseen_rows[row]:
            assert named and named <= set(UNSEEN_CITIES)
            assert (x[city] == UNK_ID).all()  # the network sees <unk> and must tag from context
        else:
            assert named <= set(SEEN_CITIES) and (x[city] != UNK_ID).all()
    for split in ("train", "val"):  # no unseen city anywhere else: every city word is known or <unk>
        x = getattr(bundle, f"x_{split}")
        assert all(VOCABULARY.tokens[i] not in UNSEEN_CITIES for i in x.unique().tolist())


def test_unknown_rate_puts_unk_on_training_cities_only():
    some, none = load("slot_filling", unknown_rate=0.2), load("slot_filling", unknown_rate=0.0)
    unk = some.x_train == UNK_ID
    assert unk.any() and not (none.x_train == UNK_ID).any()
    assert set(some.y_train[unk].tolist()) <= {DESTINATION, ORIGIN}
    assert not (some.x_val == UNK_ID).any()


def test_tags_and_vocabulary_are_in_the_info():
    info = DATASETS["slot_filling"].describe({})
    assert info.class_names == TAGS == ("other", "destination", "origin", "time")
    assert info.vocabulary == VOCABULARY and info.target_steps == info.input_shape[0]
    assert {"arrive", "leave", "taipei", "november", "2nd"} <= set(VOCABULARY.tokens)


# -- parity --------------------------------------------------------------------------------------


def bit_strings(bundle, split: str) -> list[str]:
    x = getattr(bundle, f"x_{split}")
    if x.dtype == torch.int64:
        return [text_of(row, bundle.info.vocabulary) for row in x]
    return ["".join("1" if v > 0 else "0" for v in row[:, 0] if v != 0) for row in x]


@pytest.mark.parametrize("encoding", ["numbers", "tokens"])
@pytest.mark.parametrize("variable", [True, False])
def test_parity_labels_are_the_parity_of_the_bits(encoding, variable):
    bundle = load("parity", encoding=encoding, variable_length=variable, length=12)
    shape = (12,) if encoding == "tokens" else (12, 1)
    assert bundle.info.input_shape == shape and bundle.info.class_names == ("even", "odd")
    for split in SPLITS:
        strings = bit_strings(bundle, split)
        labels = getattr(bundle, f"y_{split}").tolist()
        assert labels == [s.count("1") % 2 for s in strings]
        lengths = {len(s) for s in strings}
        assert lengths == {12} if not variable else len(lengths) > 5
    x = bundle.x_train if encoding == "tokens" else bundle.x_train[:, :, 0]
    lengths = sequence_lengths(x)  # padded at the front: the last step is always a bit
    assert torch.equal(padding_mask(x), torch.arange(12)[None, :] >= (12 - lengths)[:, None])


def test_pattern_rule_is_balanced_and_correct():
    bundle = load("parity", rule="pattern", pattern="1101", length=20, variable_length=False)
    strings = bit_strings(bundle, "train")
    assert bundle.y_train.tolist() == [int("1101" in s) for s in strings]
    assert abs(bundle.y_train.float().mean() - 0.5) < 0.05
    bits = np.array([[0, 1, 1, 0, 1, 0]])
    assert contains_pattern(bits, np.array([6]), "1101").tolist() == [True]
    assert contains_pattern(bits, np.array([4]), "1101").tolist() == [False]  # past the string's end


@pytest.mark.parametrize("params, words", [({"rule": "pattern", "pattern": "12"}, "0 and 1"),
                                           ({"min_length": 20, "length": 10}, "min_length"),
                                           ({"rule": "pattern", "pattern": "11011011", "length": 6},
                                            "longer than the strings")])
def test_parity_bad_settings_say_what_to_change(params, words):
    with pytest.raises(ValueError, match=words):
        DATASETS["parity"].describe(params)


# -- seq2seq -------------------------------------------------------------------------------------


def parse_source(text: str) -> datetime.date:
    """Read a generated source date back with datetime (ordinal suffixes dropped first)."""
    plain = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text)
    for pattern in ("%B %d %Y", "%d %b %Y", "%d/%m/%y", "%A, %B %d, %Y", "%b %d, %Y", "%d.%m.%Y",
                    "%d %B %Y"):
        try:
            return datetime.datetime.strptime(plain, pattern).date()
        except ValueError:
            continue
    raise AssertionError(f"no format reads {text!r}")


def test_date_targets_are_the_source_dates_in_iso_form():
    bundle = load("date_translation")
    info = bundle.info
    seen_formats = set()
    for split in SPLITS:
        x, y = getattr(bundle, f"x_{split}"), getattr(bundle, f"y_{split}")
        for source_ids, target_ids in zip(x, y):
            source, target = text_of(source_ids, info.vocabulary), text_of(target_ids, info.target_vocabulary)
            day = datetime.date.fromisoformat(target)
            assert len(target) == 10 and parse_source(source) == day
            assert datetime.date(1969, 1, 1) <= day <= datetime.date(2068, 12, 31)
            seen_formats.add(re.sub(r"\d", "9", re.sub(r"[A-Za-z]+", "A", source)))
    assert len(seen_formats) >= len(DATE_FORMATS)
    assert UNK_ID not in bundle.x_train.unique().tolist()


def test_date_weekday_names_are_right():
    bundle = load("date_translation")
    for ids in bundle.x_test:
        source = text_of(ids, bundle.info.vocabulary)
        if "," in source and source.split(",")[0].isalpha():
            assert parse_source(source).strftime("%A") == source.split(",")[0]


@pytest.mark.parametrize("alphabet, characters", [("digits", string.digits),
                                                  ("letters", string.ascii_lowercase)])
def test_reversal_targets_are_the_sources_backwards(alphabet, characters):
    bundle = load("reversal", alphabet=alphabet, min_length=2, max_length=7)
    info = bundle.info
    assert info.input_shape == (7,) and info.target_steps == 8
    assert set(info.vocabulary.tokens[2:]) == set(characters)
    lengths = set()
    for x, y in zip(bundle.x_train, bundle.y_train):
        source = text_of(x, info.vocabulary)
        assert text_of(y, info.target_vocabulary) == source[::-1]
        lengths.add(len(source))
    assert lengths == set(range(2, 8))


# -- forecasting windows -------------------------------------------------------------------------


def test_sequence_layout_is_the_vector_layout_with_one_feature():
    vector = DATASETS["daily_views"].load({"num_days": 300, "window": 10, "horizon": 3}, 0)
    sequence = DATASETS["daily_views"].load({"num_days": 300, "window": 10, "horizon": 3,
                                             "layout": "sequence"}, 0)
    assert sequence.info.input_shape == (10, 1) and vector.info.input_shape == (10,)
    assert torch.equal(sequence.x_train[:, :, 0], vector.x_train)
    series, days = vector.extras["series"], vector.extras["target_days_test"]
    assert vector.y_test.shape == (len(days), 3)
    assert torch.equal(vector.y_test[5], series[days[5]:days[5] + 3])
    assert int(days[-1]) + 3 == 300  # the last window's horizon ends with the series


def test_sine_wave_without_noise_is_exact():
    bundle = load("sine_wave", noise=0, period=20, window=8, horizon=2)
    assert bundle.x_train.shape[1:] == (8, 1) and bundle.y_train.shape[1] == 2
    days = bundle.extras["target_days_train"].double()
    expected = torch.sin(2 * torch.pi * (days[:, None] + torch.arange(2)) / 20)
    assert torch.allclose(bundle.y_train.double(), expected, atol=1e-6)


# -- typed text ----------------------------------------------------------------------------------


def test_encode_maps_unknown_words_and_ignores_case_and_punctuation():
    ids = encode("  I would like to ARRIVE in Nairobi, on November 2nd!  ", VOCABULARY, 16)
    words = decode(ids, VOCABULARY)
    assert words == ["i", "would", "like", "to", "arrive", "in", UNK, "on", "november", "2nd"]
    batch = as_batch(ids, 16)
    assert batch.shape == (1, 16) and batch.dtype == torch.int64 and int(sequence_lengths(batch)) == 10


def test_encode_characters_for_dates():
    info = DATASETS["date_translation"].describe({})
    ids = encode("Tuesday, November 2, 2021", info.vocabulary, info.input_shape[0])
    assert text_of(ids, info.vocabulary) == "Tuesday, November 2, 2021"
    odd = encode("2/11/21 Ω😀", info.vocabulary, info.input_shape[0])  # unusual but printable
    assert odd[-2:] == [UNK_ID, UNK_ID]


@pytest.mark.parametrize("text, words", [
    ("arrive " * 1_000_000, f"at most {MAX_TEXT_CHARS}"),
    ("x" * (MAX_TEXT_CHARS + 1), "characters"),
    ("arrive taipei\x00", "invisible character"),
    ("leave \u202e taipei", "invisible character"),  # right-to-left override
    ("   \n\t ", "empty"),
    ("arrive " * 20, "20 words; the model reads at most 16"),
])
def test_encode_refuses_hostile_text_with_a_clear_message(text, words):
    with pytest.raises(TokenError, match=re.escape(words)):
        encode(text, VOCABULARY, 16)


def test_encode_refuses_what_is_not_text():
    with pytest.raises(TokenError, match="expected text"):
        encode(b"arrive", VOCABULARY, 16)


def test_decode_stops_at_end_and_survives_bad_ids():
    target = DATASETS["reversal"].describe({}).target_vocabulary
    ids = [target.id_of("3"), target.id_of("1"), target.id_of(END), target.id_of("9"), PAD_ID]
    assert decode(ids, target) == ["3", "1"]
    assert decode([IGNORE_INDEX, 10_000, -5], target) == [UNK, UNK]
    assert decode(ids, target, strip=False)[2:] == [END, "9", PAD]


# -- networks that fit -----------------------------------------------------------------------------


def node(node_id: str, node_type: str, **params) -> dict:
    return {"id": node_id, "type": node_type, "params": params}


def chain_document(data: str, *nodes: dict, params: dict | None = None) -> dict:
    edges = [{"source": a["id"], "target": b["id"], "slot": 0} for a, b in zip(nodes, nodes[1:])]
    return {"schema_version": 1, "name": data, "network": {"nodes": list(nodes), "edges": edges},
            "data": {"name": data, "params": params or {}}, "training": {}, "seed": 0}


def tagger(return_sequences: bool = True) -> dict:
    return chain_document("slot_filling", node("input", "input", dtype="tokens"), node("embed", "embedding", dim=16),
                          node("lstm", "lstm", hidden_size=16, bidirectional=True, return_sequences=return_sequences),
                          node("output", "output", task="classification"))


def seq2seq_document(data: str) -> dict:
    raw = copy.deepcopy(PRESETS["seq2seq"].document)
    for each in raw["network"]["nodes"]:
        if each["type"] == "input":
            each["params"] = {"dtype": "tokens"}  # shape and vocabulary from the dataset
        if each["type"] == "output":
            each["params"]["units"] = 0
    raw["data"] = {"name": data, "params": {}}
    return raw


NETWORKS = {
    "slot_filling": tagger(),
    "parity": chain_document("parity", node("input", "input"), node("rnn", "rnn", return_sequences=False),
                             node("output", "output", task="classification")),
    "parity tokens": chain_document("parity", node("input", "input", dtype="tokens"), node("embed", "embedding", dim=4),
                                    node("gru", "gru", return_sequences=False), node("output", "output"),
                                    params={"encoding": "tokens"}),
    "sine_wave": chain_document("sine_wave", node("input", "input"), node("lstm", "lstm", return_sequences=False),
                                node("output", "output", task="regression")),
    "date_translation": seq2seq_document("date_translation"),
    "reversal": seq2seq_document("reversal"),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_matching_network_validates_and_takes_the_data(name):
    document = load_document(NETWORKS[name])
    report = validate(document)
    assert report.problems == [], [str(p) for p in report.problems]
    bundle = DATASETS[document.data.name].load({**document.data.params, "num_samples": 100}
                                               if name != "sine_wave" else {}, 0)
    output = compile_graph(document)(*(t[:3] for t in bundle.inputs("train")))
    info = bundle.info
    wanted = ((3, info.target_steps, info.num_classes) if info.target_steps
              else (3, info.num_classes if info.task == "classification" else info.num_targets))
    assert tuple(output.shape) == wanted


def only_problem(raw: dict) -> str:
    problems = validate(load_document(raw)).problems
    assert len(problems) == 1, [str(p) for p in problems]
    return str(problems[0])


def test_tagger_pooling_over_time_is_one_clear_problem():
    assert "a target at each of 16 time steps: keep return_sequences on" in only_problem(tagger(False))


def test_seq2seq_inputs_in_the_wrong_order_is_one_clear_problem():
    raw = seq2seq_document("reversal")
    nodes = raw["network"]["nodes"]
    raw["network"]["nodes"] = [n for n in nodes if n["id"] == "target"] + [n for n in nodes if n["id"] != "target"]
    assert "predicts 10 time steps but reversal has targets for 11" in only_problem(raw)


def test_float_input_on_token_data_says_to_use_tokens():
    raw = tagger()
    raw["network"]["nodes"][0]["params"] = {"shape": [16]}
    messages = [str(p) for p in validate(load_document(raw)).problems]
    assert any("gives token ids: set dtype to tokens" in m for m in messages)


def test_a_network_with_one_input_is_told_to_add_the_decoder_input():
    raw = chain_document("reversal", node("input", "input", dtype="tokens"), node("embed", "embedding", dim=8),
                         node("lstm", "lstm", hidden_size=8), node("output", "output"))
    messages = [str(p) for p in validate(load_document(raw)).problems]
    assert any("gives 2 inputs but the network has 1 Input(s): add an Input for decoder_input" in m
               for m in messages)


def test_prepare_carries_the_decoder_input_into_every_split():
    raw = seq2seq_document("reversal")
    raw["data"]["params"] = {"num_samples": 200}
    raw["training"] = {"subset": 50, "device": "cpu"}
    setup = prepare(load_document(raw))
    train = setup.splits["train"]
    assert len(train.inputs) == 2 and len(train.more_x[0]) == len(train) == 50
    assert len(setup.splits["test_eval"].inputs) == 2
    output = setup.model(*(t[:4] for t in train.inputs))
    assert output.shape == (4, 11, 14) and torch.equal(train.t, train.y)


def test_choosing_a_seq2seq_dataset_frees_both_inputs_of_the_preset():
    document = set_dataset(PRESETS["seq2seq"].load(), "date_translation")
    report = validate(document)
    assert report.problems == [], [str(p) for p in report.problems]
    assert report.shapes["source"].shape == (29,) and report.shapes["target"].shape == (11,)
    assert report.shapes["output"].shape == (11, 15)


def test_preview_shows_words_with_their_tags_and_escapes_unknown_tokens():
    bundle = load("slot_filling", unknown_rate=0.5)
    table = figures.dataset_preview_figure(bundle).data[0]
    assert list(table.header.values) == ["<b>input</b>", "<b>tags</b>"]
    sentences, tags = (list(column) for column in table.cells.values)
    assert sentences[0] == html.escape(text_of(bundle.x_train[0], VOCABULARY), quote=False)
    assert any("&lt;unk&gt;" in s for s in sentences) and not any("<unk>" in s for s in sentences)
    assert all(" → " in t for t in tags) and any("→ destination" in t for t in tags)


@pytest.mark.parametrize("params, words", [
    ({"pattern": "11", "length": 64, "variable_length": False}, "almost every string has pattern 11: use shorter"),
    ({"pattern": "11111111", "length": 8, "variable_length": False}, "lacks pattern 11111111: use longer")])
def test_pattern_that_cannot_be_balanced_says_why(params, words):
    with pytest.raises(ValueError, match=words):
        load("parity", rule="pattern", num_samples=100, **params)
