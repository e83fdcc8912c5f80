"""Jobs in worker processes: training never competes with the web server for Python's GIL.

Each job is a child process (started from a forkserver that has torch imported, so a start
costs tens of milliseconds) running `worker.child_main`: a thread `JobHandle` trains as usual
while the child's main thread relays the parent's commands and sends new metrics. The parent's
`ProcessJobHandle` has the same interface as `JobHandle`, so pages do not know the difference.
Unlike a thread, a worker can be ended by force: a job that does not stop within
`STOP_GRACE_SECONDS` (one very long step) is terminated, and its memory goes with it.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
import time

from dlbuilder.document import Document
from dlbuilder.training.job import ThreadRunner
from dlbuilder.training.relayed import RelayedHandle
from dlbuilder.training.worker import child_main

POLL_SECONDS = 0.2  # the parent checks heartbeats and overdue stops at least this often
STOP_GRACE_SECONDS = 5.0  # a stop (or a missing heartbeat) waits this long for the current step
KILL_WAIT_SECONDS = 2.0  # after SIGTERM, before SIGKILL
STARTING = "starting a worker…"
PREPARING = "preparing the data and the network…"
# Imported once by the forkserver, so a job start does not pay for them: torch._dynamo is what
# the first optimizer pulls in (~1.9 s), sklearn.datasets what the digits set needs (~1.8 s).
PRELOAD = ["dlbuilder.training.process_runner", "dlbuilder.training.worker", "dlbuilder.training.job",
           "dlbuilder.datasets", "dlbuilder.compile", "torch._dynamo", "sklearn.datasets"]
_context = None


def context():
    """A forkserver context with the engine preloaded (spawn where forkserver does not exist)."""
    global _context
    if _context is None:
        methods = multiprocessing.get_all_start_methods()
        _context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            _context.set_forkserver_preload(PRELOAD)
    return _context


class ProcessJobHandle(RelayedHandle):
    """The parent's view of a job in a worker process (same interface as `JobHandle`)."""

    def __init__(self, document: Document, device: str | None = None, heartbeat_timeout: float | None = None):
        super().__init__(document, device, heartbeat_timeout)
        self._send_lock = threading.Lock()
        self._conn = None
        self.process = None

    def start(self) -> None:
        """Return at once: a background thread launches the worker, then relays its messages.

        (The first launch after a server start waits for the forkserver's imports; the page
        must not wait with it.)
        """
        self.message = STARTING
        threading.Thread(target=self._run, name=f"dlbuilder-relay-{self.id}", daemon=True).start()

    # -- control -----------------------------------------------------------------------------

    def _send(self, command: str) -> None:
        with self._send_lock:
            if self._conn is None:
                if command != "weights" or command not in self._queued:  # (a page asks 5 times a second)
                    self._queued.append(command)
                return
            try:
                self._conn.send(command)
            except (OSError, ValueError):
                pass  # the worker has ended already

    # -- the relay thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._launch():
                self._read()
        finally:
            self._finish()

    def _launch(self) -> bool:
        """Start the worker process and send it the commands given meanwhile; False if it never started."""
        if self._stop_asked is not None:
            self.status, self.message = "stopped", self._stop_reason or "stopped before its worker started"
            return False
        parent_conn, child_conn = context().Pipe()
        self.process = context().Process(target=child_main, args=(child_conn, self.document.to_json(None),
                                                                  self._device),
                                         name=f"dlbuilder-job-{self.id}", daemon=True)
        try:
            self.process.start()
        except Exception as error:  # (a failed launch must become a status, not a job pending forever)
            self.status = "error"
            self.message = f"could not start a training process ({error}): wait a moment and start again"
            return False
        finally:
            child_conn.close()
        self._launched_at = time.monotonic()
        with self._send_lock:
            self._conn = parent_conn
            for command in self._queued:
                parent_conn.send(command)
            self._queued.clear()
        if self.message == STARTING:
            self.message = PREPARING
        return True

    def _read(self) -> None:
        try:
            while True:
                if self._conn.poll(POLL_SECONDS) and self._handle(pickle.loads(self._conn.recv_bytes())):
                    return  # (plain pickle from our own worker process)
                silent = time.monotonic() - self._last_beat
                if self.heartbeat_timeout and silent > self.heartbeat_timeout and not self._stop_reason:
                    self._stop_reason = "stopped: its page has been closed (no heartbeat)"
                    self.stop()
                if self._stop_overdue(STOP_GRACE_SECONDS):
                    self._terminate()
                    return
        except (EOFError, OSError):
            self.process.join(5)
            if self.active:
                self.status = "error"
                self.message = (f"the training process ended unexpectedly (exit code {self.process.exitcode}; "
                                "it may have run out of memory)")

    def _terminate(self) -> None:
        """End a worker that did not stop by itself in time (SIGTERM, then SIGKILL); its memory goes with it."""
        self.process.terminate()
        self.process.join(KILL_WAIT_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(KILL_WAIT_SECONDS)
        self._forced_stop(STOP_GRACE_SECONDS)

    def _handle(self, message: tuple) -> bool:
        kind = message[0]
        if kind == "update":
            self._apply_update(message, PREPARING)
        elif kind == "info":
            _, self.info, self._counters["updates_per_epoch"], self._bundle = message
        elif kind == "weights":
            self._weights = message[1]
            self._weights_ready.set()
        elif kind == "end":
            _, status, text, self._weights = message
            self.status = status
            self.message = self._stop_reason if status == "stopped" and self._stop_reason else text
            return True
        return False

    def _finish(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self.process is not None and self.process.pid is not None:
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(KILL_WAIT_SECONDS)
        self._weights_ready.set()
        self._done.set()


class ProcessRunner(ThreadRunner):
    """Like ThreadRunner, but each job trains in its own worker process."""

    handle_type = ProcessJobHandle

    def warm_up(self) -> None:
        """Start the forkserver (and its imports, ~5 s) in the background, before the first job."""
        if context().get_start_method() == "forkserver":
            from multiprocessing import forkserver

            threading.Thread(target=forkserver.ensure_running, name="dlbuilder-forkserver", daemon=True).start()
