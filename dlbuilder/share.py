"""Share links: a whole document packed into one URL query value, and read back safely.

Format: "1." + base64url(zlib level 9 (compact JSON)), without padding. The "1" names the
link format so it can change later; the document inside carries its own schema_version.
Parameters equal to their defaults are left out before compressing (the load pipeline fills
them back in), which shortens links by about 45%.

Link lengths measured (characters after "g=", with / without dropping defaults):
playground 454 / 816, deep_mlp 401 / 832, lenet 549 / 913, residual 470 / 884,
lstm 434 / 788, seq2seq 596 / 969, autoencoder 498 / 801,
a 50-node chain of Dense layers 944 / 1,466 (tests/test_share.py checks the bounds).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from dlbuilder.datasets import DATASETS
from dlbuilder.document import MAX_DOCUMENT_BYTES, SCHEMA_VERSION, Document, DocumentError, parse_json
from dlbuilder.layers import LAYERS
from dlbuilder.params import Param, fill_defaults
from dlbuilder.training.settings import TRAINING_PARAMS

LINK_VERSION = "1"
QUERY_KEY = "g"
MAX_LINK_CHARS = 16_000  # a browser address bar holds a few tens of thousands at most
MAX_JSON_BYTES = MAX_DOCUMENT_BYTES
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]*")  # always fullmatch: "$" would allow a final newline
VERSION_PATTERN = re.compile(r"[0-9]{1,6}")

DAMAGED = "this share link is damaged or incomplete: copy the whole link again"


class ShareLinkError(ValueError):
    """A share link that cannot be opened; the message says what to do, in one line."""


def _drop_defaults(values: dict[str, Any], schema: tuple[Param, ...]) -> dict[str, Any]:
    """`values` without the entries equal (same type and value) to their schema default."""
    defaults = fill_defaults(schema, {})
    return {key: value for key, value in values.items()
            if not (key in defaults and type(value) is type(defaults[key]) and value == defaults[key])}


def compact_dict(document: Document) -> dict[str, Any]:
    """The document dict without default-valued parameters; `load_document` restores them."""
    raw = document.to_dict()
    for node in raw["network"]["nodes"]:
        node["params"] = _drop_defaults(node["params"], LAYERS[node["type"]].params)
    raw["training"] = _drop_defaults(raw["training"], TRAINING_PARAMS)
    if raw["data"] is not None:
        raw["data"]["params"] = _drop_defaults(raw["data"]["params"], DATASETS[raw["data"]["name"]].params)
    return raw


def encode_document(document: Document) -> str:
    """Pack `document` into a short URL-safe text: version tag, ".", base64url(zlib(JSON))."""
    text = json.dumps(compact_dict(document), separators=(",", ":"))
    packed = zlib.compress(text.encode("utf-8"), 9)
    return f"{LINK_VERSION}.{base64.urlsafe_b64encode(packed).decode('ascii').rstrip('=')}"


def _token(text: str) -> str:
    """The encoded part of `text`, which may be the bare token or a whole share URL."""
    text = text.strip()
    if "?" in text or "://" in text:
        try:
            values = parse_qs(urlsplit(text).query).get(QUERY_KEY)
        except ValueError:  # e.g. "Invalid IPv6 URL" for "http://[..."
            raise ShareLinkError(DAMAGED) from None
        if not values:
            raise ShareLinkError(f"this address has no network in it (no '{QUERY_KEY}=' part): "
                                 "copy the whole share link")
        text = values[0].strip()
    return text


def _unpack(payload: str) -> bytes:
    """base64url text -> the JSON bytes, refusing bad characters and decompression bombs."""
    if not TOKEN_PATTERN.fullmatch(payload) or len(payload) % 4 == 1:
        raise ShareLinkError(DAMAGED)
    try:
        packed = base64.b64decode(payload + "=" * (-len(payload) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ShareLinkError(DAMAGED) from None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(packed, MAX_JSON_BYTES + 1)
    except zlib.error:
        raise ShareLinkError(DAMAGED) from None
    if len(data) > MAX_JSON_BYTES or inflater.unconsumed_tail:
        raise ShareLinkError(f"this share link unpacks to more than {MAX_JSON_BYTES:,} bytes, "
                             "too large for a network: save the network as a file instead")
    if not inflater.eof or inflater.unused_data:
        raise ShareLinkError(DAMAGED)
    return data


def decode_document(text: str) -> Document:
    """Open a share link (the token or the whole URL); raise ShareLinkError saying what to do."""
    if not isinstance(text, str):
        raise ShareLinkError("a share link must be text: paste the link itself")
    if len(text) > MAX_LINK_CHARS:
        raise ShareLinkError(f"this share link has {len(text):,} characters, more than the "
                             f"{MAX_LINK_CHARS:,} a link can hold: share the network as a file")
    version, dot, payload = _token(text).partition(".")
    if not dot or not VERSION_PATTERN.fullmatch(version) or int(version) < int(LINK_VERSION):
        raise ShareLinkError(DAMAGED)
    if version != LINK_VERSION:
        raise ShareLinkError(f"this link was made by a newer dlbuilder (link format {version}, "
                             f"this one reads {LINK_VERSION}): update dlbuilder to open it")
    try:
        json_text = _unpack(payload).decode("utf-8")
    except UnicodeDecodeError:
        raise ShareLinkError(DAMAGED) from None
    try:
        raw = parse_json(json_text)
        _refuse_newer(raw)
        return Document.from_dict(raw)
    except DocumentError as error:
        raise ShareLinkError(f"this share link holds no usable network ({error.problems[0]}): "
                             "ask for a new link") from None


def pack_json(raw: dict) -> str:
    """Any plain dict packed like a document link (version tag, ".", base64url(zlib(JSON))): lesson links."""
    packed = zlib.compress(json.dumps(raw, separators=(",", ":")).encode("utf-8"), 9)
    return f"{LINK_VERSION}.{base64.urlsafe_b64encode(packed).decode('ascii').rstrip('=')}"


def unpack_json(text: str, what: str = "link") -> Any:
    """The dict `pack_json` packed, with the same bounds as a share link; ShareLinkError otherwise."""
    damaged = f"this {what} is damaged or incomplete: copy the whole link again"
    if not isinstance(text, str) or len(text) > MAX_LINK_CHARS:
        raise ShareLinkError(f"this {what} is not text of at most {MAX_LINK_CHARS:,} characters: share a file instead")
    version, dot, payload = text.strip().partition(".")
    if not dot or version != LINK_VERSION:
        raise ShareLinkError(damaged)
    data = _unpack(payload)  # bounded: refuses bad characters and decompression bombs
    try:
        return parse_json(data.decode("utf-8"))
    except (UnicodeDecodeError, DocumentError):
        raise ShareLinkError(damaged) from None


def _refuse_newer(raw: Any) -> None:
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise ShareLinkError(f"this link was made by a newer dlbuilder (document version {version}, "
                             f"this one reads up to {SCHEMA_VERSION}): update dlbuilder to open it")


def share_url(base_url: str, document: Document) -> str:
    """`base_url` with its query replaced by ?g=<encoded document> (fragment dropped too)."""
    parts = urlsplit(base_url)
    query = urlencode({QUERY_KEY: encode_document(document)})
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
