"""Vocabularies and the pure functions around them: encode typed text, decode ids, pad, mask.

Every vocabulary puts `<pad>` at id 0 and `<unk>` at id 1; seq2seq target vocabularies add
`<start>` and `<end>`. Padding never occurs inside a sequence, so `tokens != PAD_ID` is the
padding mask and its row sums are the lengths, whichever side a dataset pads on. Targets mark
padded positions with IGNORE_INDEX (-100), the value `nn.CrossEntropyLoss` skips by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"
PAD_ID, UNK_ID = 0, 1
IGNORE_INDEX = -100  # targets at padded positions (PyTorch's ignore_index default)
MAX_TEXT_CHARS = 500  # typed text longer than this is refused before any work is done
# Typed text may use printable characters only; other whitespace counts as a space.
WHITESPACE = str.maketrans({c: " " for c in "\t\n\r\x0b\x0c"})
WORD_PUNCTUATION = ".,!?;:\"()"  # stripped from both ends of each typed word


class TokenError(ValueError):
    """Typed text that cannot be turned into token ids; the message says what to change."""


@dataclass(frozen=True)
class Vocabulary:
    """Token strings by id (0 = <pad>, 1 = <unk>); `level` says how text splits into tokens."""

    tokens: tuple[str, ...]
    level: str = "word"  # "word": lower-cased words split on spaces | "char": one token per character
    _ids: dict[str, int] = field(default_factory=dict, init=False, compare=False, repr=False)  # token -> id

    def __post_init__(self) -> None:
        if self.tokens[:2] != (PAD, UNK) or len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary starts with <pad>, <unk> and has no repeated token")
        if self.level not in ("word", "char"):
            raise ValueError(f"unknown token level {self.level!r}")
        self._ids.update((token, i) for i, token in enumerate(self.tokens))

    def __len__(self) -> int:
        return len(self.tokens)

    def id_of(self, token: str) -> int:
        """The token's id, UNK_ID when the vocabulary does not have it."""
        return self._ids.get(token, UNK_ID)


def make_vocabulary(words: Iterable[str], level: str = "word", specials: Sequence[str] = ()) -> Vocabulary:
    """<pad>, <unk>, then `specials`, then each distinct word in first-seen order."""
    ordered = dict.fromkeys([PAD, UNK, *specials, *words])
    return Vocabulary(tuple(ordered), level)


def split_text(text: str, level: str, max_chars: int = MAX_TEXT_CHARS) -> list[str]:
    """Check typed text (length first, then characters) and split it into tokens."""
    if not isinstance(text, str):
        raise TokenError(f"expected text, got {type(text).__name__}")
    if len(text) > max_chars:
        raise TokenError(f"the text has {len(text):,} characters; type at most {max_chars}")
    text = text.translate(WHITESPACE)
    odd = next((c for c in text if not c.isprintable()), None)
    if odd is not None:
        raise TokenError(f"the text contains an invisible character (U+{ord(odd):04X}): "
                         "retype it with letters, digits and punctuation")
    if level == "char":
        return list(text.strip())
    words = (word.strip(WORD_PUNCTUATION) for word in text.lower().split())
    return [word for word in words if word]


def encode(text: str, vocabulary: Vocabulary, max_length: int) -> list[int]:
    """Token ids of typed text (unknown tokens -> UNK_ID), at most `max_length` of them, else TokenError."""
    pieces = split_text(text, vocabulary.level)
    if not pieces:
        raise TokenError("the text is empty: type a few words" if vocabulary.level == "word"
                         else "the text is empty: type a few characters")
    if len(pieces) > max_length:
        unit = "words" if vocabulary.level == "word" else "characters"
        raise TokenError(f"the text has {len(pieces)} {unit}; the model reads at most {max_length}: "
                         "shorten it")
    return [vocabulary.id_of(piece) for piece in pieces]


def decode(ids: Iterable[int], vocabulary: Vocabulary, strip: bool = True) -> list[str]:
    """Token strings of `ids`; with `strip`, padding is dropped and reading stops at <end>."""
    tokens = []
    for token_id in ids:
        token_id = int(token_id)
        if token_id == IGNORE_INDEX or token_id == PAD_ID and strip:
            continue
        token = vocabulary.tokens[token_id] if 0 <= token_id < len(vocabulary) else UNK
        if strip and token == END:
            break
        tokens.append(token)
    return tokens


def join_tokens(tokens: Sequence[str], level: str) -> str:
    """Tokens back into text: words with spaces, characters without."""
    return ("" if level == "char" else " ").join(tokens)


def pad_rows(rows: Sequence[Sequence[int]], length: int, value: int = PAD_ID, front: bool = False) -> np.ndarray:
    """Rows of ids as an (N, length) int64 array padded with `value` at the end (or the front)."""
    out = np.full((len(rows), length), value, dtype=np.int64)
    for i, row in enumerate(rows):
        if len(row) > length:
            raise ValueError(f"row {i} has {len(row)} tokens, more than {length}")
        start = length - len(row) if front else 0
        out[i, start:start + len(row)] = row
    return out


def padding_mask(tokens: torch.Tensor) -> torch.Tensor:
    """True at real tokens, False at padding: (N, T) bool."""
    return tokens != PAD_ID


def sequence_lengths(tokens: torch.Tensor) -> torch.Tensor:
    """Real tokens per row: (N,) int64."""
    return padding_mask(tokens).sum(dim=-1)


def target_mask(targets: torch.Tensor) -> torch.Tensor:
    """True where a target counts (not IGNORE_INDEX): same shape as `targets`."""
    return targets != IGNORE_INDEX


def as_batch(ids: Sequence[int], length: int, front: bool = False) -> torch.Tensor:
    """One encoded text as a (1, length) int64 tensor, padded like the dataset pads."""
    return torch.as_tensor(pad_rows([list(ids)], length, front=front))

