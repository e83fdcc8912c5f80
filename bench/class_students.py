"""A simulated student on the Train page (what they see after Start, read from the deltas), and short visits."""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass, field, replace

from bench.st_client import Session, SessionStats, element_text
from dlbuilder.playground_import import document_from_playground
from dlbuilder.share import encode_document
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

# The bench's share link: Playground's 2-4-2-1 tanh net on the spiral (one job ~40 s alone at 10,000 epochs)
PLAYGROUND = ("activation=tanh&batchSize=10&dataset=spiral&learningRate=0.03&networkShape=4,2"
              "&percTrainData=50&noise=0&x=true&y=true")
START = "▶ Start"
QUEUED = "**Queued**"  # "**Queued**: 2 runs ahead of yours, about 20 s…"
REFUSED = "This run would take"  # admission control's error
FULL = "already training"  # the runner's cap before the scheduler: "the server is already training 8 networks"
STATUS = re.compile(r"Training: \*\*(\w+)\*\*")  # the sidebar caption "Training: **running** · epoch 3/10"
ENDED = ("**Finished**", "**Early stopped**")  # the status banners of a job that ran to its end
ACTIVE = ("queued", "pending", "running", "paused")
UPDATES = "Updates"
LOSS_CHART = "dlb_loss"  # the plotly chart's key; its element id ends with it


@dataclass
class Student:
    """One student's timeline (monotonic seconds) and what the page told them."""

    index: int
    load_seconds: float | None = None
    pressed: float | None = None
    accepted: float | None = None  # a queue position or the Updates metric
    queued: float | None = None
    first_chart: float | None = None
    running: float | None = None  # first "running" status, or the first update
    ended: float | None = None
    status: str = ""  # the last status the sidebar showed
    finished: bool = False  # a "Finished" / "Early stopped" banner
    refused: str = ""
    full: str = ""
    answered: float | None = None  # the first of: accepted, refused, server full
    error: str = ""
    watch_end: float | None = None
    updates: list[tuple[float, int]] = field(default_factory=list)  # (time, value) at each change
    stats: SessionStats | None = None

    def observe(self, session: Session, message: ForwardMsg, now: float) -> None:
        """The session's listener: every delta after Start is checked for the signs above."""
        if self.pressed is None or message.WhichOneof("type") != "delta":
            return
        if message.delta.WhichOneof("type") != "new_element":
            return
        element = message.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "metric" and element.metric.label == UPDATES:
            self._update(now, element.metric.body)
        elif kind == "plotly_chart" and element.plotly_chart.id.endswith(LOSS_CHART):
            self.first_chart = self.first_chart or now
        else:
            self._read_text(kind, element_text(element), now)

    def _update(self, now: float, body: str) -> None:
        self.accepted = self.accepted or now
        self.answered = self.answered or now
        digits = body.replace(",", "")
        value = int(digits) if digits.isdigit() else 0
        if not self.updates or self.updates[-1][1] != value:
            self.updates.append((now, value))
        if value > 0:
            self.first_chart = self.first_chart or now
            self.running = self.running or now

    def _read_text(self, kind: str, text: str, now: float) -> None:
        if text.startswith(QUEUED):
            self.queued = self.queued or now
            self.accepted = self.accepted or now
            self.answered = self.answered or now
        elif kind == "alert" and text.startswith(REFUSED):
            self.refused = self.refused or text
            self.answered = self.answered or now
        elif kind == "alert" and FULL in text:
            self.full = self.full or text
            self.answered = self.answered or now
        elif kind == "alert" and text.startswith(ENDED):
            self.finished = True
            self.ended = self.ended or now
        elif (match := STATUS.match(text)) is not None:
            self.status = match.group(1)
            if self.status == "running":
                self.running = self.running or now
            elif self.status not in ACTIVE and self.accepted is not None:
                self.ended = self.ended or now
                self.finished = self.finished or self.status in ("finished", "early_stopped")

    def outcome(self) -> str:
        """error / refused / full / finished / running / queued / pending / nothing."""
        if self.error:
            return "error"
        if self.refused:
            return "refused"
        if self.full:
            return "full"
        if self.finished:
            return "finished"
        if self.running is not None:
            return "running" if self.ended is None else self.status or "ended"
        if self.queued is not None:
            return "queued"
        return "pending" if self.accepted is not None else "nothing"

    def since_press(self, moment: float | None) -> float | None:
        return None if moment is None or self.pressed is None else moment - self.pressed

    def _running_span(self) -> tuple[float, float] | None:
        """From the first update > 0 to the job's end (or the end of the watch); None if under 2 s."""
        moving = [t for t, value in self.updates if value > 0]
        if not moving or self.watch_end is None:
            return None
        end = min(self.ended or self.watch_end, self.watch_end)
        return (moving[0], end) if end - moving[0] >= 2.0 else None

    def updates_per_second(self) -> float | None:
        """How often the Updates metric changed per second while the job ran."""
        span = self._running_span()
        if span is None:
            return None
        changes = sum(1 for t, value in self.updates if value > 0 and span[0] < t <= span[1])
        return changes / (span[1] - span[0])

    def worst_gap(self) -> float | None:
        """The longest time the Updates metric stood still while the job ran (a frozen page)."""
        span = self._running_span()
        if span is None:
            return None
        times = [t for t, value in self.updates if value > 0 and span[0] <= t <= span[1]] + [span[1]]
        return max(b - a for a, b in zip(times, times[1:]))


class Gate:
    """Opens once every student has arrived (loaded the page, or failed to)."""

    def __init__(self, count: int):
        self.waiting = count
        self.opened = asyncio.Event()
        if count <= 0:
            self.opened.set()

    def arrive(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0:
            self.opened.set()


async def attend(student: Student, url: str, code: str, gate: Gate, delay: float, seconds: float,
                 load_timeout: float) -> None:
    """Open the share link, wait for the class, press Start after `delay`, watch `seconds`, leave."""
    session = Session(url, listener=student.observe)
    arrived = False
    try:
        opened = time.monotonic()
        await session.open("train", f"g={code}")
        await session.wait_for_run(timeout=load_timeout, after=0)
        student.load_seconds = time.monotonic() - opened
        gate.arrive()
        arrived = True
        await gate.opened.wait()
        await asyncio.sleep(delay)
        student.pressed = time.monotonic()
        await session.click(START)
        await asyncio.sleep(seconds)
        session.check()
    except Exception as error:  # noqa: BLE001 (one student's failure is a result, not the end of the run)
        student.error = f"{type(error).__name__}: {error}"[:200]
    finally:
        if not arrived:
            gate.arrive()
        student.watch_end = time.monotonic()
        student.stats = session.stats
        await session.close()


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (0.5 = median); None for no values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] if ordered else None


def share_code(epochs: int) -> str:
    document = document_from_playground(PLAYGROUND)
    return encode_document(replace(document, training={**document.training, "epochs": epochs}))


async def visit(url: str, page: str = "", query: str = "", press_start: bool = False, timeout: float = 120) -> None:
    """Open a page, wait for its run; optionally press Start and wait for the page's answer; leave."""
    session = Session(url)
    try:
        await session.open(page, query)
        await session.wait_for_run(timeout=timeout, after=0)
        if press_start:
            await session.click(START)
            await until(session, answered, timeout, lambda: f"no answer to Start within {timeout:.0f} s: "
                                                            f"{session.texts()[:12]}")
    finally:
        await session.close()


async def rehearse(url: str, timeout: float = 180) -> None:
    """The teacher tries a short run before the class arrives, so the worker pool is warm.

    The first job on a fresh server waits ~5 s for the worker pool (its forkserver imports torch);
    a class arriving minutes after the teacher opened the app does not see that.
    """
    session = Session(url)
    try:
        await session.open("train", f"g={share_code(20)}")
        await session.wait_for_run(timeout=timeout, after=0)
        await session.click(START)
        await until(session, lambda s: any(text.startswith("Training: **finished**") for text in s.texts()), timeout,
                    lambda: f"the teacher's 20-epoch run did not finish in {timeout:.0f} s")
    finally:
        await session.close()


async def until(session: Session, condition, timeout: float, failure) -> None:
    """Wait until `condition(session)` holds, checking the connection; TimeoutError(failure()) after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition(session):
        session.check()
        if time.monotonic() > deadline:
            raise TimeoutError(failure())
        await asyncio.sleep(0.2)


def answered(session: Session) -> bool:
    """The page shows the job (the Updates metric), its queue position, or why it was not taken."""
    return session.metric("Updates") is not None or any(
        text.startswith((QUEUED, REFUSED)) or FULL in text for text in session.texts())
