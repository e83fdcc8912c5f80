"""Jobs in worker processes: training never competes with the web server for Python's GIL.

Each job is a child process (started from a forkserver that has torch imported, so a start
costs tens of milliseconds). Inside it a thread `JobHandle` trains as usual; the child's main
thread relays the parent's commands and sends new metrics 20 times a second. The parent's
`ProcessJobHandle` has the same interface as `JobHandle`, so pages do not know the difference.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import threading
import time

from dlbuilder.document import Document, load_document
from dlbuilder.training.job import HandleBase, JobHandle, JobSnapshot, ThreadRunner
from dlbuilder.training.metrics import MetricsStream

RELAY_SECONDS = 0.05
WORKER_NICENESS = 5
# Imported once by the forkserver, so a job start does not pay for them: torch._dynamo is what
# the first optimizer pulls in (~1.9 s), sklearn.datasets what the digits set needs (~1.8 s).
PRELOAD = ["dlbuilder.training.job", "dlbuilder.datasets", "dlbuilder.compile", "torch._dynamo",
           "sklearn.datasets"]
_ids = itertools.count(1)
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


def child_main(conn, document_json: str, device: str | None) -> None:
    """The worker: train in a thread, relay commands and new records until the job ends."""
    os.nice(WORKER_NICENESS)  # the web server (and a browser on the same host) answer first
    job = JobHandle(load_document(document_json), device=device)
    job.thread.start()
    sent_step, sent_epoch, sent_info = 0, 0, False
    commands = {"pause": job.pause, "resume": job.resume, "stop": job.stop, "step_once": job.step_once}
    while True:
        ended = job.wait(RELAY_SECONDS)
        while conn.poll():
            command = conn.recv()
            if command in commands:
                commands[command]()
            elif command == "weights" and job.trainer is not None:
                _post(conn, ("weights", _cpu_state(job)))
        snapshot = job.snapshot()
        if not sent_info and job.trainer is not None:
            _post(conn, ("info", snapshot.info, snapshot.updates_per_epoch, job.trainer.setup.bundle))
            sent_info = True
        steps = [r for r in snapshot.steps if r.step > sent_step]
        epochs = [r for r in snapshot.epochs if r.epoch > sent_epoch]
        sent_step = steps[-1].step if steps else sent_step
        sent_epoch = epochs[-1].epoch if epochs else sent_epoch
        _post(conn, ("update", snapshot.status, snapshot.message, snapshot.epoch, snapshot.step,
                   snapshot.best_epoch, snapshot.patience_wait, steps, epochs))
        if ended:
            _post(conn, ("end", job.status, job.message, _cpu_state(job) if job.trainer else None))
            conn.close()
            return


def _post(conn, message: tuple) -> None:
    """Send with plain pickle: multiprocessing's own pickler passes tensors as shared-memory handles,
    which the parent cannot open once this worker has exited (a quick job's last messages)."""
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _cpu_state(job: JobHandle) -> dict:
    return {k: v.detach().cpu().clone() for k, v in job.trainer.setup.model.state_dict().items()}


class ProcessJobHandle(HandleBase):
    """The parent's view of a job in a worker process (same interface as `JobHandle`)."""

    def __init__(self, document: Document, device: str | None = None, heartbeat_timeout: float | None = None):
        self.id = next(_ids)
        self.document = document
        self.metrics = MetricsStream()
        self.status, self.message = "pending", ""
        self.heartbeat_timeout = heartbeat_timeout
        self.info: dict = {}
        self._counters = {"epoch": 0, "step": 0, "updates_per_epoch": 0, "best_epoch": None, "wait": None}
        self._bundle = None
        self._weights: dict | None = None
        self._weights_ready = threading.Event()
        self._last_beat = time.monotonic()
        self._done = threading.Event()
        self._send_lock = threading.Lock()
        self._stop_reason = ""
        self._device = device
        self._conn = None
        self.process = None

    def start(self) -> None:
        """Launch the worker process and the thread that relays its messages."""
        self._conn, child_conn = context().Pipe()
        self.process = context().Process(target=child_main, args=(child_conn, self.document.to_json(None),
                                                                  self._device),
                                         name=f"dlbuilder-job-{self.id}", daemon=True)
        self.process.start()
        child_conn.close()
        threading.Thread(target=self._read, name=f"dlbuilder-relay-{self.id}", daemon=True).start()

    # -- control -----------------------------------------------------------------------------

    def _send(self, command: str) -> None:
        with self._send_lock:
            try:
                self._conn.send(command)
            except (OSError, ValueError):
                pass  # the worker has ended already

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")

    def step_once(self) -> None:
        self._send("step_once")

    # -- what pages read ---------------------------------------------------------------------

    def snapshot(self) -> JobSnapshot:
        c = self._counters
        return JobSnapshot(status=self.status, message=self.message, epoch=c["epoch"], step=c["step"],
                           updates_per_epoch=c["updates_per_epoch"], total_epochs=self.document.training["epochs"],
                           info=dict(self.info), best_epoch=c["best_epoch"], patience_wait=c["wait"],
                           steps=self.metrics.steps(), epochs=self.metrics.epochs(), version=self.metrics.version)

    def bundle(self):
        """The dataset as the worker generated it (None until the job has started)."""
        return self._bundle

    def state_dict(self, timeout: float = 0.5) -> dict | None:
        """Recent weights (CPU tensors); the final ones once the job has ended.

        While it runs, this asks the worker for fresh weights and returns the last ones received
        (one refresh old) without waiting, so a live page never stalls on the worker.
        """
        if self.active:
            self._weights_ready.clear()
            self._send("weights")
            if self._weights is None:
                self._weights_ready.wait(timeout)
        return self._weights

    # -- the relay thread --------------------------------------------------------------------

    def _read(self) -> None:
        try:
            while True:
                if self._conn.poll(1.0) and self._handle(pickle.loads(self._conn.recv_bytes())):
                    return  # (plain pickle from our own worker process)
                silent = time.monotonic() - self._last_beat
                if self.heartbeat_timeout and silent > self.heartbeat_timeout and not self._stop_reason:
                    self._stop_reason = "stopped: its page has been closed (no heartbeat)"
                    self.stop()
        except (EOFError, OSError):
            self.process.join(5)
            if self.active:
                self.status = "error"
                self.message = (f"the training process ended unexpectedly (exit code {self.process.exitcode}; "
                                "it may have run out of memory)")
        finally:
            self._finish()

    def _handle(self, message: tuple) -> bool:
        kind = message[0]
        if kind == "update":
            _, status, text, epoch, step, best, wait, steps, epochs = message
            self.metrics.add_steps(steps)
            for record in epochs:
                self.metrics.add_epoch(record)
            self._counters.update(epoch=epoch, step=step, best_epoch=best, wait=wait)
            self.status, self.message = status, self._stop_reason or text
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
        self._conn.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
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
