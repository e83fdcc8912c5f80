"""Share links: exact round trips, link lengths, and every way a damaged link is refused."""

from __future__ import annotations

import base64
import json
import tracemalloc
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest

from dlbuilder import share
from dlbuilder.document import SCHEMA_VERSION, load_document
from dlbuilder.presets import PRESETS
from dlbuilder.share import MAX_LINK_CHARS, ShareLinkError, compact_dict, decode_document, encode_document, share_url


def chain_document(length: int):
    """Input -> (length - 2) Dense layers -> Output on the spiral, laid out left to right."""
    nodes = [{"id": "input", "type": "input", "position": [0, 0]}]
    nodes += [{"id": f"dense{i}", "type": "dense", "params": {"units": 16}, "position": [200 * i, 0]}
              for i in range(1, length - 1)]
    nodes.append({"id": "output", "type": "output", "position": [200 * (length - 1), 0]})
    edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:])]
    return load_document({"schema_version": SCHEMA_VERSION, "network": {"nodes": nodes, "edges": edges},
                          "data": {"name": "spiral", "params": {}}})


def link_of(payload: bytes, version: str = "1") -> str:
    """A link in the share format around arbitrary bytes (compressed like the real thing)."""
    return f"{version}." + base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode().rstrip("=")


def refusal(text) -> str:
    with pytest.raises(ShareLinkError) as caught:
        decode_document(text)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 500
    return message


# --- round trips and sizes ----------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_survives_a_round_trip_exactly(name):
    document = PRESETS[name].load()
    link = encode_document(document)
    assert link.startswith("1.")
    decoded = decode_document(link)
    assert decoded.to_dict() == document.to_dict()
    assert decoded.to_json() == document.to_json()  # also 0 vs 0.0, true vs 1
    assert len(link) < 1200  # the 11-node seq2seq: 865; far below the ~2,000 characters links survive in chats


def test_a_50_node_network_fits_a_short_link():
    document = chain_document(50)
    link = encode_document(document)
    assert decode_document(link).to_dict() == document.to_dict()
    assert 500 < len(link) < 1_500  # measured 944 characters


def test_default_values_are_left_out_and_restored():
    document = PRESETS["playground"].load()
    packed = compact_dict(document)
    assert "momentum" not in packed["training"]  # default 0.9
    assert packed["training"]["learning_rate"] == 0.03  # differs from the default 0.01
    assert packed["network"]["nodes"][1]["params"] == {"units": 4, "activation": "tanh"}
    assert packed["data"]["params"] == {}
    full = len(zlib.compress(document.to_json(indent=None).encode(), 9))
    assert len(zlib.compress(json.dumps(packed, separators=(",", ":")).encode(), 9)) < 0.7 * full


def test_a_value_equal_to_its_default_but_of_another_type_is_kept():
    document = PRESETS["playground"].load()
    document.training["l2"] = 0  # default is 0.0: dropping it would come back as 0.0
    document.nodes[1].params["bias"] = 1  # default is True
    decoded = decode_document(encode_document(document))
    assert decoded.to_json() == document.to_json()
    assert type(decoded.training["l2"]) is int and type(decoded.nodes[1].params["bias"]) is int


def test_share_url_replaces_the_query_and_can_be_opened_whole():
    document = PRESETS["residual"].load()
    url = share_url("https://dl.example.org/app/?page=editor&g=old#section", document)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "dl.example.org", "/app/")
    assert parts.fragment == ""
    assert parse_qs(parts.query) == {"g": [encode_document(document)]}
    assert decode_document(url).to_dict() == document.to_dict()
    assert share_url("http://localhost:8501", document).startswith("http://localhost:8501/?g=1.")


# --- damaged links ------------------------------------------------------------------------

def test_truncated_links_are_refused():
    link = encode_document(PRESETS["lenet"].load())
    for cut in (len(link) - 1, len(link) - 7, len(link) // 2, 3, 2):
        assert "copy the whole link again" in refusal(link[:cut])


@pytest.mark.parametrize("position", [2, 3, 10, 100, 200, -12, -3])
def test_a_changed_character_is_refused(position):
    link = encode_document(PRESETS["playground"].load())
    changed = link[:position] + ("A" if link[position] != "A" else "B") + link[position + 1:]
    if position < 0:
        changed = changed[:len(link)]
    assert "damaged" in refusal(changed)


def test_no_single_character_change_gives_a_different_network():
    document = PRESETS["playground"].load()
    link = encode_document(document)
    refused = 0
    for position in range(2, len(link)):
        for replacement in "Az_":
            if link[position] == replacement:
                continue
            try:
                decoded = decode_document(link[:position] + replacement + link[position + 1:])
            except ShareLinkError:
                refused += 1
                continue
            assert decoded.to_dict() == document.to_dict()  # only unused low bits of the last one
    assert refused > 2 * (len(link) - 3)


@pytest.mark.parametrize("text", ["1.abc$def", "1.ab+c/d", "1.a", "1.", "1", "", "   ", "one.abcd",
                                  ".abcd", "0.abcd", "01234567.abcd", "².abcd", "1.abcd efgh"])
def test_malformed_links_are_refused(text):
    assert "damaged" in refusal(text)


def test_a_newer_link_format_says_to_update():
    link = encode_document(PRESETS["playground"].load())
    assert "newer dlbuilder" in refusal("2" + link[1:])


def test_a_newer_document_version_says_to_update():
    raw = PRESETS["playground"].document | {"schema_version": SCHEMA_VERSION + 1}
    assert "newer dlbuilder" in refusal(link_of(json.dumps(raw).encode()))


def test_an_over_long_link_is_refused_before_decoding():
    assert "characters" in refusal("1." + "A" * MAX_LINK_CHARS)


def test_a_zlib_bomb_is_refused_by_the_link_length(monkeypatch):
    bomb = link_of(bytes(50_000_000))

    def never(*args, **kwargs):
        raise AssertionError("an over-long link reached the decompressor")

    monkeypatch.setattr(share.zlib, "decompressobj", never)
    monkeypatch.setattr(share.base64, "b64decode", never)
    assert "characters" in refusal(bomb)


@pytest.mark.parametrize("size", [10_000_000, 50_000_000])
def test_a_zlib_bomb_is_refused_without_unpacking_it(monkeypatch, size):
    monkeypatch.setattr(share, "MAX_LINK_CHARS", 10 ** 6)  # let the bomb reach the decompressor
    bomb = link_of(bytes(size))
    tracemalloc.start()
    try:
        message = refusal(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "too large" in message
    assert peak < 5_000_000  # never more than ~1 MB of the output is held


def test_trailing_bytes_after_the_stream_are_refused():
    packed = zlib.compress(PRESETS["playground"].load().to_json().encode()) + b"extra"
    assert "damaged" in refusal("1." + base64.urlsafe_b64encode(packed).decode().rstrip("="))


def test_a_payload_that_is_not_utf8_is_refused():
    assert "damaged" in refusal(link_of(b'{"name": "\xff\xfe"}'))


@pytest.mark.parametrize("payload", [b"[1, 2]", b'{"schema_version": 1}', b"not json at all",
                                     b'{"schema_version": 1, "network": {"nodes": [{"id": "a", '
                                     b'"type": "warp_drive"}], "edges": []}}', b"NaN"])
def test_a_link_without_a_usable_network_is_refused(payload):
    assert "ask for a new link" in refusal(link_of(payload))


def test_an_address_without_a_network_part_is_refused():
    assert "no network in it" in refusal("https://dl.example.org/app/?page=editor")


def test_a_link_that_is_not_text_is_refused():
    assert "must be text" in refusal(b"1.abcd")
