"""A lightweight client of Streamlit's own websocket protocol: one real session without a browser.

One asyncio process can drive dozens of sessions (a browser tab each would measure Chromium).
The protocol, as Streamlit 1.67's server (streamlit/web/server/starlette/starlette_websocket.py,
streamlit/runtime/app_session.py) and its frontend (static/js/index.*.js) speak it:

- Connect to ws://host:port/_stcore/stream with the subprotocol list ["streamlit"]; the second
  and third entries (XSRF token, session id to resume) are optional and only matter for auth
  cookies and reconnects. Every frame is a binary protobuf: BackMsg up, ForwardMsg down.
- The page loads when the client sends BackMsg.rerun_script (a ClientState): query_string
  without "?", page_name = the URL path ("train") on the first run, and afterwards
  page_script_hash = the hash from the last new_session. Nothing is sent until then.
- A run answers new_session (its metadata.run names the run and, for a fragment run, the
  fragments), then delta messages (new_element / add_block at metadata.delta_path: [0] is the
  main area, [1] the sidebar), page_info_changed (the app rewrote the query string),
  auto_rerun / stop_auto_rerun, and script_finished.
- A button press is a rerun_script whose widget_states holds {id: the Button element's id,
  trigger_value: true}; widgets left out keep their server-side value.
- `st.fragment(run_every=...)` is driven by the client: the server sends
  ForwardMsg.auto_rerun(interval, fragment_id) and the browser sends rerun_script with that
  fragment_id and is_auto_rerun=true every `interval` seconds (setInterval) until
  stop_auto_rerun names the fragment or a full run's new_session clears every timer.
- Claiming no cached_message_hashes means the server never answers with ref_hash stand-ins.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Callable

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

try:
    from websockets.asyncio.client import connect
except ImportError:  # websockets 12 (streamlit allows >= 12): the legacy client has the same arguments
    from websockets.client import connect

TEXT_FIELDS = ("markdown", "alert", "text", "heading")  # their text is `body` (a caption is markdown)
ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # dlbuilder.ui.text.plain escapes every ASCII punctuation
WORD_JOINER = "\u2060"


def visible_text(text: str) -> str:
    """Markdown source as a reader sees it: backslash escapes and invisible word joiners removed."""
    return ESCAPED.sub(r"\1", text).replace(WORD_JOINER, "")


def element_text(element: Element) -> str:
    """The text an element shows (Markdown body, alert, heading, caption...), or ''."""
    kind = element.WhichOneof("type")
    if kind in TEXT_FIELDS:
        return visible_text(getattr(element, kind).body)
    if kind == "exception":
        return f"{element.exception.type}: {element.exception.message}"
    if kind == "code":
        return element.code.code_text
    if kind == "metric":
        return f"{element.metric.label}: {element.metric.body}"
    if kind in ("button", "checkbox", "page_link", "selectbox"):
        return getattr(element, kind).label
    return ""


@dataclass
class Shown:
    """One element on the page: what it is, the run that drew it, the fragment it lives in."""

    element: Element
    run_id: str
    fragment_id: str


@dataclass
class SessionStats:
    """Traffic counters of one session."""

    messages: int = 0
    bytes: int = 0
    deltas: int = 0
    full_runs: int = 0
    fragment_runs: int = 0
    auto_reruns_sent: int = 0


Listener = Callable[["Session", ForwardMsg, float], None]


@dataclass
class Session:
    """One Streamlit session over one websocket; `elements` mirrors what a browser would show."""

    url: str  # http://host:port
    listener: Listener | None = None  # called with every ForwardMsg and its monotonic arrival time
    query_string: str = ""
    page_hash: str = ""
    session_id: str = ""
    elements: dict[tuple[int, ...], Shown] = field(default_factory=dict)
    stats: SessionStats = field(default_factory=SessionStats)
    closed: bool = False

    def __post_init__(self):
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._timers: dict[str, tuple[float, asyncio.Task]] = {}
        self._finished = asyncio.Condition()
        self._full_runs_done = 0
        self._run_id = ""
        self._failure: BaseException | None = None
        self._closing = False

    async def open(self, page: str = "", query: str = "") -> None:
        """Connect and ask for the page at /<page>?<query>, as a browser's first rerun does."""
        address = self.url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
        # max_size=None: one delta may carry a large chart; the server bounds what it sends
        self._ws = await connect(address, subprotocols=["streamlit"], max_size=None,
                                 open_timeout=30, ping_interval=None)
        self._reader = asyncio.create_task(self._read(), name="st-client-reader")
        self.query_string = query
        message = BackMsg()
        message.rerun_script.query_string = query
        message.rerun_script.page_name = page
        message.rerun_script.SetInParent()  # an empty ClientState is still a rerun request
        await self._send(message)

    async def rerun(self, triggers: tuple[str, ...] = (), fragment_id: str = "", auto: bool = False) -> None:
        """A rerun of the current page (or one fragment), with `triggers` pressed (button ids)."""
        message = BackMsg()
        state = message.rerun_script
        state.SetInParent()
        state.query_string = self.query_string
        state.page_script_hash = self.page_hash
        state.fragment_id = fragment_id
        state.is_auto_rerun = auto
        for widget_id in triggers:
            state.widget_states.widgets.add(id=widget_id, trigger_value=True)
        await self._send(message)

    async def click(self, label: str) -> None:
        """Press the button showing `label`; KeyError if the page has none."""
        await self.rerun(triggers=(self.button_id(label),))

    def button_id(self, label: str) -> str:
        for shown in self.elements.values():
            if shown.element.WhichOneof("type") == "button" and shown.element.button.label == label:
                return shown.element.button.id
        raise KeyError(f"no button labelled {label!r} on the page")

    def texts(self) -> list[str]:
        """Every element's visible text, in page order (main area first, then the sidebar)."""
        return [t for _, s in sorted(self.elements.items()) if (t := element_text(s.element))]

    def metric(self, label: str) -> str | None:
        """The value shown by the metric labelled `label`, or None."""
        for shown in self.elements.values():
            if shown.element.WhichOneof("type") == "metric" and shown.element.metric.label == label:
                return shown.element.metric.body
        return None

    async def wait_for_run(self, timeout: float = 60.0, after: int | None = None) -> None:
        """Wait until a full run finishes (the `after`+1-th one; by default the next one)."""
        target = (self._full_runs_done if after is None else after) + 1
        async with self._finished:
            await asyncio.wait_for(self._finished.wait_for(
                lambda: self._full_runs_done >= target or self.closed), timeout)
        self.check()

    @property
    def full_runs_done(self) -> int:
        return self._full_runs_done

    async def close(self) -> None:
        """Close the websocket, as a browser tab does (the server keeps the session for its TTL)."""
        self._closing = True
        self._stop_timers()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self.closed = True

    async def _send(self, message: BackMsg) -> None:
        await self._ws.send(message.SerializeToString())

    def check(self) -> None:
        """Raise if the connection failed (the server closed it, or a frame could not be read)."""
        if self._failure is not None:
            raise RuntimeError(f"the session's connection failed: {self._failure!r}") from self._failure

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                message = ForwardMsg()
                message.ParseFromString(frame)
                now = time.monotonic()
                self.stats.messages += 1
                self.stats.bytes += len(frame)
                await self._handle(message)
                if self.listener is not None:
                    self.listener(self, message, now)
        except Exception as error:  # noqa: BLE001 (kept and raised to whoever waits on this session)
            if not self._closing:
                self._failure = error
        finally:
            if not self._closing and self._failure is None:
                self._failure = ConnectionError("the server closed the connection")
            self._stop_timers()
            self.closed = True
            async with self._finished:
                self._finished.notify_all()

    async def _handle(self, message: ForwardMsg) -> None:
        kind = message.WhichOneof("type")
        if kind == "delta":
            self._apply_delta(message)
        elif kind == "new_session":
            self.page_hash = message.new_session.page_script_hash
            self._run_id = message.metadata.run.script_run_id
            self.session_id = message.new_session.initialize.session_id or self.session_id
            if message.metadata.run.fragment_ids:
                self.stats.fragment_runs += 1
            else:
                self.stats.full_runs += 1
                self._stop_timers()  # as the frontend does when a full run starts
        elif kind == "navigation" and message.navigation.page_script_hash:
            self.page_hash = message.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query_string = message.page_info_changed.query_string
        elif kind == "auto_rerun":
            self._start_timer(message.auto_rerun.fragment_id, message.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fragment_id in message.stop_auto_rerun.fragment_ids:
                self._stop_timers(fragment_id)
        elif kind == "script_finished":
            await self._finish(message)

    def _apply_delta(self, message: ForwardMsg) -> None:
        self.stats.deltas += 1
        delta, path = message.delta, tuple(message.metadata.delta_path)
        run_id = self._run_id  # deltas carry no run identity: they belong to the run that is going on
        if delta.WhichOneof("type") == "new_element":
            for old in [p for p in self.elements if p[:len(path)] == path and p != path]:
                del self.elements[old]  # an element replaced a container: its contents are gone
            self.elements[path] = Shown(delta.new_element, run_id, delta.fragment_id)

    async def _finish(self, message: ForwardMsg) -> None:
        """Drop what the finished run did not draw again (a fragment run: only in its fragments)."""
        status = message.script_finished
        run = message.metadata.run
        if status == ForwardMsg.FINISHED_SUCCESSFULLY:
            self._drop_stale(run.script_run_id, None)
            async with self._finished:
                self._full_runs_done += 1
                self._finished.notify_all()
        elif status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
            self._drop_stale(run.script_run_id, set(run.fragment_ids))

    def _drop_stale(self, run_id: str, fragments: set[str] | None) -> None:
        if not run_id:
            return
        for path, shown in list(self.elements.items()):
            if shown.run_id != run_id and (fragments is None or shown.fragment_id in fragments):
                del self.elements[path]

    def _start_timer(self, fragment_id: str, interval: float) -> None:
        current = self._timers.get(fragment_id)
        if current is not None and current[0] == interval:
            return  # the frontend keeps a running timer with the same interval
        self._stop_timers(fragment_id)
        task = asyncio.create_task(self._auto_rerun(fragment_id, interval), name=f"auto-rerun-{fragment_id}")
        self._timers[fragment_id] = (interval, task)

    def _stop_timers(self, fragment_id: str | None = None) -> None:
        for key in [fragment_id] if fragment_id is not None else list(self._timers):
            entry = self._timers.pop(key, None)
            if entry is not None:
                entry[1].cancel()

    async def _auto_rerun(self, fragment_id: str, interval: float) -> None:
        """setInterval: a fragment rerun request every `interval` s, whether or not the last one finished."""
        while not self.closed:
            await asyncio.sleep(interval)
            self.stats.auto_reruns_sent += 1
            try:
                await self.rerun(fragment_id=fragment_id, auto=True)
            except Exception:  # noqa: BLE001 (the connection is gone; the reader reports why)
                return
