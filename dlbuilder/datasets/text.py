"""`slot_filling`: tag every word of a travel request as destination, origin, time or other.

"arrive taipei on november 2nd" tags taipei destination; "leave taipei on november 2nd" tags
it origin: the verb decides, so a tagger needs context. Some sentences put the verb after the
city ("taipei is where i leave on friday"), where only a model that also reads backwards
(bidirectional) can know the tag when it reaches the city. Sentences are lower-case words.

Bundle layout (the sequence datasets share it; see tokens.py for ids and masks):
  x_*  (N, T) int64 word ids, padded at the end with PAD_ID (0); T = info.input_shape[0]
  y_*  (N, T) int64 tag ids (info.class_names), IGNORE_INDEX (-100) at padded positions
  info.vocabulary   the words (id 0 <pad>, 1 <unk>); info.target_steps == T
  extras["unseen_cities"]  cities only test sentences use: their words are <unk> in x_test
  extras["test_unseen"]    (N_test,) bool: which test sentences use such a city
  extras["test_sentences"] the test sentences as text, unknown cities spelt out (for display)
Lengths and masks: tokens.sequence_lengths(x), tokens.padding_mask(x), tokens.target_mask(y).
"""

from __future__ import annotations

import numpy as np
import torch

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetSpec
from dlbuilder.datasets.common import (
    clean_params,
    make_token_bundle,
    num_samples_param,
    split_indices,
    train_fraction_param,
    val_fraction_param,
)
from dlbuilder.datasets.tokens import IGNORE_INDEX, UNK_ID, make_vocabulary, pad_rows
from dlbuilder.params import Param

TAGS = ("other", "destination", "origin", "time")
OTHER, DESTINATION, ORIGIN, TIME = range(len(TAGS))

SEEN_CITIES = ("taipei", "tokyo", "paris", "london", "berlin", "madrid", "rome", "seoul", "sydney",
               "boston", "chicago", "denver", "seattle", "dallas", "miami", "toronto", "dubai",
               "vienna", "prague", "lisbon", "dublin", "oslo", "athens", "cairo", "new york",
               "san francisco", "hong kong", "los angeles", "kuala lumpur", "buenos aires")
# Never in training or validation, so not in the vocabulary: test sentences map them to <unk>.
UNSEEN_CITIES = ("nairobi", "lima", "helsinki", "manila", "zurich", "osaka", "bogota", "warsaw",
                 "hanoi", "montreal")

# A verb phrase right before the city (tagged other); no phrase of one list ends like one of the other.
DESTINATION_VERBS = ("arrive", "arrive in", "get to", "fly to", "go to", "travel to", "reach", "land in")
ORIGIN_VERBS = ("leave", "depart from", "fly from", "leave from", "fly out of", "depart")
# After "<city> is where i ...": the city comes first, its tag only follows from this later verb.
DESTINATION_AFTER = ("arrive", "land", "want to go")
ORIGIN_AFTER = ("leave", "depart", "start")

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAYS = range(1, 29)
# (lead-in tagged other, date pattern tagged time)
WHEN_FORMS = (("on", "{month} {nth}"), ("on", "{month} {day}"), ("on", "the {nth} of {month}"),
              ("on", "{weekday}"), ("on", "{weekday} {month} {nth}"), ("", "tomorrow"),
              ("", "next {weekday}"))
# {D}/{O}: a destination/origin verb phrase; {dest}/{orig}: a city; {Da}/{Oa}: a verb after the city
TEMPLATES = ("{D} {dest} {when}", "{O} {orig} {when}", "i would like to {D} {dest} {when}",
             "i would like to {O} {orig} {when}", "{when} {D} {dest}", "{when} i {O} {orig}",
             "{O} {orig} and {D} {dest} {when}", "{when} i {O} {orig} and {D} {dest}",
             "{dest} is where i {Da} {when}", "{orig} is where i {Oa} {when}")

SLOT_PARAMS = (
    num_samples_param(3000, low=100, high=20000),
    Param("unseen_share", "float", 0.25, "share of test sentences whose cities the training set never "
          "has (they become <unk>)", min=0.0, max=1.0),
    Param("unknown_rate", "float", 0.05, "share of training city words replaced by <unk>, so the model "
          "learns what to do with a word it does not know", min=0.0, max=0.5),
    train_fraction_param(0.8),
    val_fraction_param(0.1),
)


def ordinal(day: int) -> str:
    """1 -> "1st", 2 -> "2nd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _date_words() -> list[str]:
    return [*MONTHS, *WEEKDAYS, *(str(d) for d in DAYS), *(ordinal(d) for d in DAYS)]


def _template_words() -> list[str]:
    literal = [w for text in TEMPLATES + tuple(f"{a} {b}" for a, b in WHEN_FORMS)
               for w in text.split() if not w.startswith("{")]
    phrases = DESTINATION_VERBS + ORIGIN_VERBS + DESTINATION_AFTER + ORIGIN_AFTER
    return literal + [w for phrase in phrases for w in phrase.split()]


VOCABULARY = make_vocabulary([*_template_words(), *_date_words(),
                              *(w for city in SEEN_CITIES for w in city.split())])


def _longest(options) -> int:
    return max(len(option.split()) for option in options)


def _max_words() -> int:
    """Words in the longest sentence any template can make (the padded length T)."""
    slot = {"{D}": _longest(DESTINATION_VERBS), "{O}": _longest(ORIGIN_VERBS),
            "{Da}": _longest(DESTINATION_AFTER), "{Oa}": _longest(ORIGIN_AFTER),
            "{dest}": _longest(SEEN_CITIES + UNSEEN_CITIES), "{orig}": _longest(SEEN_CITIES + UNSEEN_CITIES),
            "{when}": max(len(f"{a} {b}".split()) for a, b in WHEN_FORMS)}
    return max(sum(slot.get(w, 1) for w in t.split()) for t in TEMPLATES)


MAX_WORDS = _max_words()


def _when(rng: np.random.Generator) -> list[tuple[str, int]]:
    lead, pattern = WHEN_FORMS[rng.integers(len(WHEN_FORMS))]
    day = int(rng.choice(DAYS))
    text = pattern.format(month=MONTHS[rng.integers(12)], weekday=WEEKDAYS[rng.integers(7)],
                          day=day, nth=ordinal(day))
    return [(w, OTHER) for w in lead.split()] + [(w, TIME) for w in text.split()]


def make_sentence(rng: np.random.Generator, cities: tuple[str, ...]) -> list[tuple[str, int]]:
    """One random request as (word, tag id) pairs, its cities drawn from `cities`."""
    def pick(options):
        return options[rng.integers(len(options))]

    first, second = rng.choice(len(cities), 2, replace=False)  # two different cities
    fillers = {"{D}": (pick(DESTINATION_VERBS), OTHER), "{O}": (pick(ORIGIN_VERBS), OTHER),
               "{Da}": (pick(DESTINATION_AFTER), OTHER), "{Oa}": (pick(ORIGIN_AFTER), OTHER),
               "{dest}": (cities[first], DESTINATION), "{orig}": (cities[second], ORIGIN)}
    words = []
    for part in pick(TEMPLATES).split():
        if part == "{when}":
            words += _when(rng)
        else:
            text, tag = fillers.get(part, (part, OTHER))
            words += [(w, tag) for w in text.split()]
    return words


def describe_slot_filling(params: dict) -> DataInfo:
    """Word ids (T,) in, one tag per word out."""
    clean_params(SLOT_PARAMS, params)
    return DataInfo(input_shape=(MAX_WORDS,), task="classification", num_classes=len(TAGS),
                    input_dtype="long", vocab_size=len(VOCABULARY), class_names=TAGS, display="sequence",
                    vocabulary=VOCABULARY, target_steps=MAX_WORDS)


def _encode_sentences(sentences, rng: np.random.Generator, unknown_rate: float, train: np.ndarray):
    """(N, T) word ids and tag ids; training city words become <unk> at `unknown_rate`."""
    ids, tags = [], []
    in_train = np.zeros(len(sentences), dtype=bool)
    in_train[train] = True
    for row, sentence in enumerate(sentences):
        words = [VOCABULARY.id_of(word) for word, _ in sentence]
        tag_ids = [tag for _, tag in sentence]
        if in_train[row]:
            drop = rng.random(len(words)) < unknown_rate
            words = [UNK_ID if d and t in (DESTINATION, ORIGIN) else w for w, t, d in zip(words, tag_ids, drop)]
        ids.append(words)
        tags.append(tag_ids)
    return pad_rows(ids, MAX_WORDS), pad_rows(tags, MAX_WORDS, value=IGNORE_INDEX)


def load_slot_filling(params: dict, seed: int) -> DatasetBundle:
    """Random requests; a share of the test split uses only cities the training split never has."""
    info = describe_slot_filling(params)
    p = clean_params(SLOT_PARAMS, params)
    rng = np.random.default_rng(seed)
    n = p["num_samples"]
    parts = split_indices(n, rng, p["train_fraction"], p["val_fraction"])
    test = parts[2]
    unseen = np.zeros(n, dtype=bool)
    unseen[rng.choice(test, int(round(len(test) * p["unseen_share"])), replace=False)] = True
    sentences = [make_sentence(rng, UNSEEN_CITIES if unseen[i] else SEEN_CITIES) for i in range(n)]
    x, y = _encode_sentences(sentences, rng, p["unknown_rate"], parts[0])
    extras = {"unseen_cities": UNSEEN_CITIES, "padding": "end", "level": "word",
              "test_unseen": torch.as_tensor(unseen[test]),
              "test_sentences": tuple(" ".join(w for w, _ in sentences[i]) for i in test)}
    return make_token_bundle(info, x, y, parts, extras)


SLOT_SETS: dict[str, DatasetSpec] = {
    "slot_filling": DatasetSpec(
        name="slot_filling", title="Slot filling (travel requests)", category="sequences",
        doc="Tag each word of 'arrive taipei on november 2nd' as destination, origin, time or other; "
            "the verb decides whether a city is where you go or where you leave.",
        params=SLOT_PARAMS, describe=describe_slot_filling, load=load_slot_filling),
}
