"""Sequence-to-sequence sets: `date_translation` ("2 Nov 2021" -> "2021-11-02") and `reversal`.

Character tokens. Bundle layout (teacher forcing; ids and masks as in tokens.py):
  x_*            (N, S) int64 source ids of info.vocabulary, padded at the end with 0
  more_x[split]  (decoder_input,): (N, T) int64 ids of info.target_vocabulary: <start>, then the
                 target shifted right by one, padded with 0
  y_*            (N, T) int64 ids of info.target_vocabulary: the target then <end>, IGNORE_INDEX
                 (-100) after it
  info.more_inputs == (InputInfo("decoder_input", (T,), "long", target vocabulary),);
  info.class_names == info.target_vocabulary.tokens; info.target_steps == T
A network takes (source, decoder_input) in the order of its Input nodes; greedy decoding feeds
<start>, then each predicted id, until <end>.
"""

from __future__ import annotations

import datetime
import string
from functools import cache
from typing import Callable

import numpy as np

from dlbuilder.datasets.base import DataInfo, DatasetBundle, DatasetError, DatasetSpec, InputInfo
from dlbuilder.datasets.common import (
    clean_params,
    make_token_bundle,
    num_samples_param,
    split_indices,
    train_fraction_param,
    val_fraction_param,
)
from dlbuilder.datasets.text import MONTHS, WEEKDAYS, ordinal
from dlbuilder.datasets.tokens import END, IGNORE_INDEX, START, Vocabulary, make_vocabulary, pad_rows
from dlbuilder.params import Param

CATEGORY = "sequences"


def seq2seq_info(source: Vocabulary, target: Vocabulary, source_length: int, target_steps: int) -> DataInfo:
    """Source ids (S,) and decoder input (T,) in, one target token per step out."""
    decoder = InputInfo("decoder_input", (target_steps,), "long", target)
    return DataInfo(input_shape=(source_length,), task="classification", num_classes=len(target),
                    input_dtype="long", vocab_size=len(source), class_names=target.tokens,
                    display="sequence", vocabulary=source, target_steps=target_steps,
                    more_inputs=(decoder,), target_vocabulary=target)


def seq2seq_bundle(info: DataInfo, sources: list[str], targets: list[str],
                   parts: tuple[np.ndarray, ...], extras: dict) -> DatasetBundle:
    """Encode character strings into source, decoder-input and target arrays, cut into splits."""
    source_vocab, target_vocab = info.vocabulary, info.target_vocabulary
    steps = info.target_steps
    start, end = target_vocab.id_of(START), target_vocab.id_of(END)
    x = pad_rows([[source_vocab.id_of(c) for c in text] for text in sources], info.input_shape[0])
    target_ids = [[target_vocab.id_of(c) for c in text] for text in targets]
    decoder_input = pad_rows([[start, *ids] for ids in target_ids], steps)
    y = pad_rows([[*ids, end] for ids in target_ids], steps, value=IGNORE_INDEX)
    extras = {"padding": "end", "level": "char", **extras}
    return make_token_bundle(info, x, y, parts, extras, more_x=(decoder_input,))


# -- dates -------------------------------------------------------------------------------------

MONTH_NAMES = tuple(m.capitalize() for m in MONTHS)
WEEKDAY_NAMES = tuple(d.capitalize() for d in WEEKDAYS)
FIRST_DAY, LAST_DAY = datetime.date(1969, 1, 1), datetime.date(2068, 12, 31)  # "%y" reads 69-99 as 19xx
DATE_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "November 2nd 2021": lambda d: f"{MONTH_NAMES[d.month - 1]} {ordinal(d.day)} {d.year}",
    "2 Nov 2021": lambda d: f"{d.day} {MONTH_NAMES[d.month - 1][:3]} {d.year}",
    "2/11/21": lambda d: f"{d.day}/{d.month}/{d.year % 100:02d}",
    "Tuesday, November 2, 2021": lambda d: (f"{WEEKDAY_NAMES[d.weekday()]}, {MONTH_NAMES[d.month - 1]} "
                                            f"{d.day}, {d.year}"),
    "Nov 2, 2021": lambda d: f"{MONTH_NAMES[d.month - 1][:3]} {d.day}, {d.year}",
    "02.11.2021": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "2 November 2021": lambda d: f"{d.day} {MONTH_NAMES[d.month - 1]} {d.year}",
}
DATE_TARGET_LENGTH = 10  # "2021-11-02"
DATE_SOURCE_VOCABULARY = make_vocabulary(
    sorted(set("".join(MONTH_NAMES + WEEKDAY_NAMES) + "stndrh" + string.digits + " ,/.")), level="char")
DATE_TARGET_VOCABULARY = make_vocabulary([*string.digits, "-"], level="char", specials=(START, END))

DATE_PARAMS = (
    num_samples_param(10000, low=100, high=50000),
    train_fraction_param(0.8),
    val_fraction_param(0.1),
)


@cache
def date_source_length() -> int:
    """Characters in the longest source any format makes (every weekday/month pair in 8 years)."""
    days = (datetime.date(2020, 1, 1) + datetime.timedelta(days=k) for k in range(8 * 366))
    return max(len(fmt(day)) for day in days for fmt in DATE_FORMATS.values())


def describe_dates(params: dict) -> DataInfo:
    clean_params(DATE_PARAMS, params)
    return seq2seq_info(DATE_SOURCE_VOCABULARY, DATE_TARGET_VOCABULARY, date_source_length(),
                        DATE_TARGET_LENGTH + 1)


def load_dates(params: dict, seed: int) -> DatasetBundle:
    """Random days 1969-2068, each written in one of DATE_FORMATS at random; target ISO 8601."""
    info = describe_dates(params)
    p = clean_params(DATE_PARAMS, params)
    rng = np.random.default_rng(seed)
    n = p["num_samples"]
    offsets = rng.integers(0, (LAST_DAY - FIRST_DAY).days + 1, n)
    formats = rng.integers(0, len(DATE_FORMATS), n)
    writers = list(DATE_FORMATS.values())
    days = [FIRST_DAY + datetime.timedelta(days=int(k)) for k in offsets]
    sources = [writers[f](day) for f, day in zip(formats, days)]
    targets = [day.isoformat() for day in days]
    parts = split_indices(n, rng, p["train_fraction"], p["val_fraction"])
    extras = {"formats": tuple(DATE_FORMATS), "test_formats": formats[parts[2]].copy()}
    return seq2seq_bundle(info, sources, targets, parts, extras)


# -- reversal ----------------------------------------------------------------------------------

ALPHABETS = {"digits": string.digits, "letters": string.ascii_lowercase,
             "digits_and_letters": string.digits + string.ascii_lowercase}

REVERSAL_PARAMS = (
    Param("alphabet", "choice", "digits", "characters the strings are made of", choices=tuple(ALPHABETS)),
    Param("min_length", "int", 3, "shortest string", min=1, max=30),
    Param("max_length", "int", 10, "longest string", min=1, max=30),
    num_samples_param(5000, low=100, high=50000),
    train_fraction_param(0.8),
    val_fraction_param(0.1),
)


def _reversal_parts(params: dict) -> tuple[dict, Vocabulary, Vocabulary]:
    p = clean_params(REVERSAL_PARAMS, params)
    if p["min_length"] > p["max_length"]:
        raise DatasetError(f"min_length {p['min_length']} is above max_length {p['max_length']}: lower it")
    alphabet = ALPHABETS[p["alphabet"]]
    return (p, make_vocabulary(alphabet, level="char"),
            make_vocabulary(alphabet, level="char", specials=(START, END)))


def describe_reversal(params: dict) -> DataInfo:
    p, source, target = _reversal_parts(params)
    return seq2seq_info(source, target, p["max_length"], p["max_length"] + 1)


def load_reversal(params: dict, seed: int) -> DatasetBundle:
    """Random strings of min_length to max_length characters; the target is the string backwards."""
    info = describe_reversal(params)
    p, _, _ = _reversal_parts(params)
    rng = np.random.default_rng(seed)
    n = p["num_samples"]
    alphabet = np.array(list(ALPHABETS[p["alphabet"]]))
    lengths = rng.integers(p["min_length"], p["max_length"] + 1, n)
    letters = alphabet[rng.integers(0, len(alphabet), (n, p["max_length"]))]
    sources = ["".join(row[:length]) for row, length in zip(letters, lengths)]
    parts = split_indices(n, rng, p["train_fraction"], p["val_fraction"])
    return seq2seq_bundle(info, sources, [s[::-1] for s in sources], parts, {})


SEQ2SEQ_SETS: dict[str, DatasetSpec] = {
    "date_translation": DatasetSpec(
        name="date_translation", title="Date translation", category=CATEGORY,
        doc="Rewrite 'November 2nd 2021', '2/11/21', 'Tuesday, November 2, 2021', ... as 2021-11-02, "
            "character by character; attention learns which source characters each output reads.",
        params=DATE_PARAMS, describe=describe_dates, load=load_dates),
    "reversal": DatasetSpec(
        name="reversal", title="Sequence reversal", category=CATEGORY,
        doc="Write a random string backwards: the first output needs the last input.",
        params=REVERSAL_PARAMS, describe=describe_reversal, load=load_reversal),
}
