"""What reaches the browser (issue 8, part 3): no tracebacks, user text shown literally, local-only
by default, and an upload store that checks first, stays private and cannot be flushed by others."""

import base64
import json
import os
import re
import stat
import subprocess
import time
import tomllib
import zlib
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dlbuilder.datasets import DatasetError, store_upload, uploaded
from dlbuilder.editing import network_for_dataset, set_dataset
from dlbuilder.presets import PRESETS
from dlbuilder.share import compact_dict, encode_document
from dlbuilder.ui import session
from dlbuilder.ui.text import plain

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
HOSTILE = "![x](http://example.invalid/x.png)"
HOSTILE_TEXTS = [
    HOSTILE, "[click](http://example.invalid/)", "<img src=http://example.invalid/y.png>", "$x^2$",
    ":red[red] :smile: :material/home: :streamlit: :material_home:", "a -> b <= c -- d",
    "**bold** _it_ `code`", "# heading\n- item\n1. one", "a | b\n---|---",
    "http://example.invalid www.example.invalid mail@example.invalid HTTPS://X.invalid WwW.x.invalid",
    "&lt;b&gt; &amp; \\*", "line\r\nbreak\u2028here", "trailing backslash \\",
]
PUNCTUATION = r"!-/:-@\[-`{-~"
# What Streamlit's Markdown rewrites after parsing (copied from its frontend bundle, 1.67): shortcodes,
# the Streamlit logo, material icons (the raw text's ":material/" first becomes ":material_"), arrows,
# GFM autolinks (addresses and e-mail).
REWRITES = [re.compile(r":\+1:|:-1:|:[\w-]+:"), re.compile(r":streamlit:"), re.compile(r":material_(\w+):"),
            re.compile(r"(^|\s)(<->|->|<-|--|>=|<=|~=)(\s|$)"),
            re.compile(r"(https?:\/\/|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.I),  # GFM autolinks
            re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")]


def shown(markdown: str) -> str:
    """The text CommonMark shows for escaped `markdown` (backslash escapes undone, joiners dropped)."""
    return re.sub(rf"\\([{PUNCTUATION}])", r"\1", markdown).replace("\u2060", "")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DLBUILDER_CACHE", str(tmp_path))
    monkeypatch.chdir(ROOT)  # Streamlit reads .streamlit/config.toml from the working folder


def table_csv(header: str = "a,b,label", rows: int = 40, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    lines = [header] + [f"{x:.3f},{y:.3f},{int(x > y)}" for x, y in rng.normal(size=(rows, 2))]
    return "\n".join(lines).encode()


def raw_link(document, replace: tuple[str, str] | None = None) -> str:
    """A share link built by hand, so that it can carry what `encode_document` would never write."""
    text = json.dumps(compact_dict(document), separators=(",", ":"))
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    return "1." + base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")


def page(name: str, query: dict | None = None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.switch_page(f"pages/{name}.py")
    return app


def messages(app: AppTest) -> list[str]:
    return [e.value for kind in ("error", "warning", "info", "success", "caption", "markdown") for e in app.get(kind)]


# ---- plain text -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_plain_escapes_every_markdown_construct_and_shows_the_text(text):
    escaped = plain(text)
    assert re.fullmatch(rf"(?:\\[{PUNCTUATION}]|[^{PUNCTUATION}\r\n])*", escaped), escaped
    assert shown(escaped).replace("\u2060", "") == re.sub(r"[\r\n\u2028]+", " ", text)
    visible = re.sub(rf"\\([{PUNCTUATION}])", r"\1", escaped)  # the parsed text, joiners kept
    assert ":material/" not in escaped  # Streamlit replaces this in the raw text, before parsing
    for rewrite in REWRITES:
        assert not rewrite.search(visible), (rewrite.pattern, visible)


def test_plain_cuts_long_text():
    assert shown(plain("a" * 500, limit=10)) == "a" * 10 + "…"


# ---- no tracebacks ----------------------------------------------------------------------------

def test_uncaught_errors_show_no_traceback_or_server_path():
    from streamlit import config
    config.get_config_options(force_reparse=True)
    assert config.get_option("client.showErrorDetails") == "none"

    def script():
        raise RuntimeError("secret detail in /srv/dlbuilder/engine.py")
    app = AppTest.from_function(script).run()
    assert "/srv/dlbuilder" not in app.exception[0].message and not list(app.exception[0].stack_trace)


def test_a_share_link_that_breaks_the_engine_gives_a_short_message(monkeypatch):
    def broken(link):
        raise RuntimeError("internal detail at /srv/dlbuilder/share.py line 3")
    monkeypatch.setattr(session, "decode_document", broken)
    app = page("build", {"g": encode_document(PRESETS["lenet"].load())}).run()
    assert not app.exception
    errors = " ".join(e.value for e in app.error)
    assert "did not expect" in errors and "Ask for the link again" in errors and "/srv" not in errors
    assert app.success[0].value.startswith("The network is valid")  # the default network to work with


def test_a_share_link_with_a_5001_digit_number_is_refused_calmly():
    link = raw_link(PRESETS["playground"].load(), ('"seed":0', '"seed":' + "9" * 5001))
    app = page("build", {"g": link}).run()
    assert not app.exception and app.error  # ShareLinkError once the engine says so; never a traceback


def test_a_broken_playground_address_and_an_engine_failure_become_notices(monkeypatch):
    app = page("build").run()
    app.text_input(key="dlb_playground_url").input(
        "https://playground.tensorflow.org/#networkShape=²&dataset=circle").run()
    app.button(key="dlb_playground_import").click().run()
    assert not app.exception and app.error

    from dlbuilder.ui import takeaway
    monkeypatch.setattr(takeaway, "python_source", lambda document: 1 / 0)
    app.run()
    assert not app.exception
    assert any("open this tab again" in e.value for e in app.error)  # the code tab says what to do instead


def test_the_train_page_survives_a_failing_check_and_a_failing_start(monkeypatch):
    from dlbuilder.ui import guard, jobs
    app = page("train").run()
    monkeypatch.setattr(jobs, "start", lambda document: 1 / 0)
    app.button(key="dlb_start").click().run()
    assert not app.exception and any("did not expect" in e.value for e in app.error)
    monkeypatch.setattr(guard, "validate", lambda document: [][1])
    app.run()
    assert not app.exception
    assert any("could not" in e.value or "did not expect" in e.value for e in app.error)


@pytest.mark.parametrize("name, replace", [
    ("build", ('"units":4,"activation":"tanh"', '"units":1.5,"activation":"tanh"')),
    ("train", ('"learning_rate":0.03,"epochs":200', '"learning_rate":-1,"epochs":2.5,"batch_size":1.5')),
], ids=["fractional-units", "negative-learning-rate"])
def test_numbers_a_widget_cannot_show_do_not_break_the_page(name, replace):
    app = page(name, {"g": raw_link(PRESETS["playground"].load(), replace)})
    app.session_state[session.SELECTED] = "dense1"  # the inspector shows its form
    app.run()
    assert not app.exception, app.exception[0].message if app.exception else ""


# ---- user text on the page --------------------------------------------------------------------

def test_share_link_text_in_problems_is_shown_literally():
    document = PRESETS["playground"].load()
    document.name, document.description = f"Net {HOSTILE}", f"[link](http://example.invalid/) {HOSTILE}"
    link = raw_link(document, ('"units":4,"activation":"tanh"', f'"units":4,"activation":{json.dumps(HOSTILE)}'))
    app = page("build", {"g": link}).run()
    assert not app.exception
    rendered = messages(app)
    assert not any("](http://example" in text for text in rendered), rendered
    assert any(HOSTILE in shown(e.value) for e in app.error)  # in the problems box


def test_csv_headers_and_targets_are_shown_literally():
    header = f"{HOSTILE},[b](http://example.invalid/b),label"
    document = set_dataset(network_for_dataset("circle"), "csv")
    document.data.params["file"] = store_upload(table_csv(header))
    app = page("train")
    app.session_state[session.DOCUMENT] = document
    app.run()
    assert not app.exception
    caption = next(c.value for c in app.caption if "Using your uploaded file" in c.value)
    assert "](http://example" not in caption and HOSTILE in shown(caption)

    document.data.params["target"] = f"{HOSTILE} :red[x]"  # as a share link can set it
    app = page("train")
    app.session_state[session.DOCUMENT] = document
    app.run()
    assert not any("](http://example" in text or ":red[" in text for text in messages(app))
    assert any(f"no column '{HOSTILE} :red[" in shown(e.value) for e in app.error)


def test_names_from_a_file_are_text_in_charts():
    from dlbuilder.figures.boundary import class_points
    from dlbuilder.figures.previews import table_preview
    from dlbuilder.datasets.csv_data import load_csv
    tag = '<a href="http://example.invalid/p">p</a>'
    rows = "\n".join(f"{i % 5},{'yes' if i % 2 else tag}" for i in range(30))
    bundle = load_csv(f"{tag},label\n{rows}".encode(), {}, 0)
    table = table_preview(bundle).to_dict()["data"][0]
    assert not any("<a " in str(value) for value in table["header"]["values"] + table["cells"]["values"][-1])
    traces = class_points(np.zeros((2, 2)), np.array([0, 1]), bundle.info.class_names, test=False)
    assert not any("<a " in trace["name"] for trace in traces)


# ---- where the server listens -----------------------------------------------------------------

def test_make_run_serves_this_computer_unless_told_otherwise():
    def run_command(*extra):
        out = subprocess.run(["make", "--no-print-directory", "-n", "run", *extra], cwd=ROOT,
                             capture_output=True, text=True, check=True)  # (make test runs this inside make)
        return next(line for line in out.stdout.splitlines() if "streamlit run" in line)
    assert "--server.address 127.0.0.1" in run_command()
    assert "--server.address 0.0.0.0" in run_command("HOST=0.0.0.0")
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1" and config["client"]["showErrorDetails"] == "none"


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening socket on `port`, from /proc/net/tcp and tcp6 (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.split(":")
            if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket table")
def test_the_server_listens_on_this_computer_only_by_default():
    import sys
    import urllib.request

    from tests.browser import free_port
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not listening_addresses(port):
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=30) as answer:
            assert answer.status == 200
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0 or ::
    finally:
        server.terminate()
        server.wait(20)


# ---- uploads ----------------------------------------------------------------------------------

def stored(owner: str) -> list[Path]:
    return sorted(uploaded._owner_folder(owner).glob("*.csv"))


@pytest.mark.parametrize("data, message", [(b"", "empty"), (b"\x00\x01binary" * 50, "not a text file"),
                                           (b"a,b\n1,2\n", "at least"), (b"a,b\nx,y\n" * 20, "not numeric")],
                         ids=["empty", "binary", "too-few-rows", "not-numeric"])
def test_a_file_that_is_not_a_dataset_is_refused_and_not_kept(data, message):
    with pytest.raises(DatasetError, match=message):
        store_upload(data, owner="student")
    folder = uploaded.upload_folder()
    assert not folder.exists() or not [p for p in folder.rglob("*") if p.is_file()]


def test_a_session_keeps_a_few_files_and_replaces_only_its_own_oldest():
    other = store_upload(table_csv(seed=100), owner="classmate")
    keys, start = [], time.time() - 1000
    for index in range(uploaded.MAX_FILES_PER_OWNER + 2):
        keys.append(store_upload(table_csv(seed=index), owner="student"))
        os.utime(uploaded._owner_folder("student") / f"{keys[-1]}.csv", (start + index, start + index))
    assert {p.stem for p in stored("student")} == set(keys[-uploaded.MAX_FILES_PER_OWNER:])
    assert [p.stem for p in stored("classmate")] == [other]
    assert uploaded.read_upload(other) == table_csv(seed=100)


def test_a_full_store_refuses_new_uploads_instead_of_evicting(monkeypatch):
    monkeypatch.setattr(uploaded, "MAX_FILES", 4)
    mine = store_upload(table_csv(seed=0), owner="student")
    for index in range(3):  # many small uploads from fresh sessions
        store_upload(table_csv(seed=10 + index), owner=f"visitor{index}")
    with pytest.raises(DatasetError, match="upload space is full"):
        store_upload(table_csv(seed=20), owner="visitor9")
    assert uploaded.read_upload(mine) == table_csv(seed=0)  # still there
    assert not stored("visitor9")
    monkeypatch.setattr(uploaded, "MAX_STORE_BYTES", 10)
    with pytest.raises(DatasetError, match="upload space is full"):
        store_upload(table_csv(seed=21), owner="visitor10")


def test_unused_files_expire_and_used_ones_stay(monkeypatch):
    old = store_upload(table_csv(seed=0), owner="gone")
    kept = store_upload(table_csv(seed=1), owner="student")
    day_ago = time.time() - uploaded.KEEP_SECONDS - 60
    for path in stored("gone") + stored("student"):
        os.utime(path, (day_ago, day_ago))
    uploaded.read_upload(kept)  # in use: its clock restarts
    store_upload(table_csv(seed=2), owner="newcomer")
    assert not stored("gone") and not uploaded._owner_folder("gone").exists()
    assert [p.stem for p in stored("student")] == [kept]


def test_uploads_are_private_to_the_server(monkeypatch):
    previous = os.umask(0)  # even with a permissive umask
    try:
        key = store_upload(table_csv(), owner="student")
    finally:
        os.umask(previous)
    path = stored("student")[0]
    assert path.stem == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(uploaded.upload_folder().stat().st_mode) == 0o700
    assert not list(path.parent.glob("*.part")) and not list(path.parent.glob(".*.part"))


def test_the_owner_key_never_becomes_a_path():
    store_upload(table_csv(), owner="../../etc")
    assert [p.parent.parent for p in uploaded.upload_folder().rglob("*.csv")] == [uploaded.upload_folder()]
