"""Jobs as Ray actors: one actor per job, on this machine or any node of a Ray cluster.

`RayJobHandle` has the interface of `JobHandle` and `ProcessJobHandle`, so pages and the scheduler
do not know the difference. Its relay thread creates the actor (`ray_worker.TrainingActor`, which
trains in a thread `JobHandle`), then polls it ~20 times a second: one `poll(commands)` round trip
carries the parent's commands there and the news back. Only plain data crosses the wire (the
document as JSON, weights as NumPy arrays, our record dataclasses); the parent makes its own copy
of the dataset from the document (same seed, same data). An actor whose process or machine is lost
ends its job with an error, and only that job.

`ensure_ray` connects once per process: to the cluster at $RAY_ADDRESS, else to a new local Ray
instance with $DLBUILDER_RAY_CPUS CPUs (default: all). The workers import this package from a copy
Ray uploads (`py_modules`); a remote node needs the same Python, ray and requirements.txt.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import queue
import threading
import time
import traceback
from pathlib import Path

import dlbuilder
from dlbuilder.datasets import uploaded
from dlbuilder.datasets.base import DatasetError
from dlbuilder.document import Document
from dlbuilder.training import process_runner
from dlbuilder.training.job import HandleBase, JobSnapshot, ThreadRunner
from dlbuilder.training.process_runner import PREPARING, RelayedMetrics
from dlbuilder.training.ray_worker import TrainingActor, to_tensor, to_torch
from dlbuilder.training.setup import load_bundle

LOG = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # between an answer and the next poll (~20 polls a second)
WAIT_SECONDS = 0.2  # while a poll is unanswered, heartbeats and overdue stops are checked this often
UNAVAILABLE_SECONDS = 30.0  # an actor unreachable this long (network trouble) counts as lost
STARTING = "starting a worker on the Ray cluster (it waits while every worker is busy)…"
LOST = "the training worker was lost (its process or machine stopped): start again"
# Settings that change how a job trains: a remote node gets the server's values.
FORWARDED_SETTINGS = ("DLBUILDER_FAST_PATH", "DLBUILDER_TORCH_THREADS", "DLBUILDER_CPU_MAX_WORK")
_ids = itertools.count(1)
_ray_lock = threading.Lock()  # one thread connects; the others wait for it
_requests: queue.SimpleQueue = queue.SimpleQueue()
_keeper: threading.Thread | None = None
_actor_class = None


def ray_cpus() -> int:
    """CPUs of a local Ray instance: $DLBUILDER_RAY_CPUS (1-1024), else all of this machine's."""
    text = os.environ.get("DLBUILDER_RAY_CPUS", "").strip()
    return int(text) if text.isascii() and text.isdigit() and 1 <= int(text) <= 1024 else (os.cpu_count() or 1)


def runtime_env() -> dict:
    """Ray's runtime environment for the job actors: this package (uploaded) and the forwarded settings."""
    env_vars = {name: os.environ[name] for name in FORWARDED_SETTINGS if name in os.environ}
    return {"py_modules": [str(Path(dlbuilder.__file__).parent)], "excludes": ["__pycache__"], "env_vars": env_vars}


def ensure_ray():
    """Connect this process to Ray once (thread-safe) and return the `ray` module; RuntimeError says what to change."""
    global _actor_class
    try:
        import ray
    except ImportError:
        raise RuntimeError("the Ray runner needs the ray package: pip install ray==2.60.0 "
                           "(or use DLBUILDER_RUNNER=process)") from None
    with _ray_lock:
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS", "").strip()
            options = ({"address": address} if address else
                       {"num_cpus": ray_cpus(), "include_dashboard": False})
            try:
                _on_keeper_thread(lambda: ray.init(**options, runtime_env=runtime_env(), log_to_driver=False))
            except Exception as error:
                detail = "".join(traceback.format_exception_only(type(error), error)).strip()[:300]
                where = (f"the Ray cluster at RAY_ADDRESS={address}: check that `ray start --head` runs there, "
                         "with the same ray version, or unset RAY_ADDRESS to train on this machine"
                         if address else "a local Ray instance: set RAY_ADDRESS to use a running cluster")
                raise RuntimeError(f"could not connect to {where} ({detail})") from None
        if _actor_class is None:
            _actor_class = ray.remote(TrainingActor)
    return ray


def _on_keeper_thread(function):
    """Run `function` on one thread that lives as long as this process, and return its result.

    A local Ray instance's processes get SIGKILL when the *thread* that started them ends (Ray sets
    PR_SET_PDEATHSIG): started from a job's relay thread, they died with that job.
    """
    global _keeper
    answer: queue.SimpleQueue = queue.SimpleQueue()
    if _keeper is None:
        _keeper = threading.Thread(target=_keep, name="dlbuilder-ray-keeper", daemon=True)
        _keeper.start()
    _requests.put((function, answer))
    result, error = answer.get()
    if error is not None:
        raise error
    return result


def _keep() -> None:
    while True:
        function, answer = _requests.get()
        try:
            answer.put((function(), None))
        except BaseException as error:  # (handed to the caller)
            answer.put((None, error))


def upload_bytes(document: Document) -> bytes | None:
    """The uploaded CSV file a document trains on (read here: a remote node cannot see this cache)."""
    if document.data is None or document.data.name not in uploaded.UPLOADED_DATASETS:
        return None
    return uploaded._read(str(document.data.params.get("file", "")))


class RayJobHandle(HandleBase):
    """The parent's view of a job in a Ray actor (same interface as `JobHandle`)."""

    accepts_gpu_share = True
    actor_options: dict = {}  # more `.options()` for the actor (tests pin jobs to one node by a custom resource)

    def __init__(self, document: Document, device: str | None = None, heartbeat_timeout: float | None = None,
                 gpu_share: float = 0.0):
        if not (math.isfinite(gpu_share) and 0.0 <= gpu_share <= 1.0):
            raise ValueError(f"gpu_share must be a fraction of one GPU between 0 and 1, not {gpu_share!r}")
        self.id = next(_ids)
        self.document = document
        self.metrics = RelayedMetrics()
        self.status, self.message = "pending", ""
        self.heartbeat_timeout = heartbeat_timeout
        self.info: dict = {}
        self.actor = None
        self._counters = {"epoch": 0, "step": 0, "updates_per_epoch": 0, "best_epoch": None, "wait": None}
        self._bundle = None
        self._weights: dict | None = None
        self._weights_ready = threading.Event()
        self._last_beat = time.monotonic()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._wake = threading.Event()  # a command is waiting: poll now
        self._queued: list[str] = []
        self._stop_reason = ""
        self._device, self._gpu_share = device, gpu_share
        self._launched_at: float | None = None
        self._answered = False  # the actor has answered a poll (it exists and runs)

    def start(self) -> None:
        """Return at once: a background thread connects to Ray, creates the actor, then polls it."""
        self.message = STARTING
        threading.Thread(target=self._run, name=f"dlbuilder-ray-relay-{self.id}", daemon=True).start()

    # -- control -----------------------------------------------------------------------------

    def _send(self, command: str) -> None:
        with self._lock:
            if command != "weights" or command not in self._queued:  # (a page asks 5 times a second)
                self._queued.append(command)
        self._wake.set()

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        """Ask the actor to stop after its current step; it is killed if that takes too long."""
        self._note_stop()
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
        """The dataset, made here from the document once the actor has made its own (None until then)."""
        return self._bundle

    def state_dict(self, timeout: float = 0.5) -> dict | None:
        """Recent weights (CPU tensors); the final ones once the job has ended.

        While it runs, this asks the actor for fresh weights and returns the last ones received (one
        refresh old) without waiting for them, as `ProcessJobHandle.state_dict` does.
        """
        if self.active:
            self._weights_ready.clear()
            self._send("weights")
            if self._weights is None:
                self._weights_ready.wait(timeout)
        return self._weights

    # -- the relay thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._launch():
                self._relay(ensure_ray())
        except Exception as error:  # (a relay bug must end the job visibly, never leave it "running")
            LOG.exception("Ray job %s: relay failed", self.id)
            self._end("error", f"training stopped with an error: {type(error).__name__}: {str(error)[:300]}")
        finally:
            self._finish()

    def _launch(self) -> bool:
        """Create the actor; False (with the status set) if the job ends before it exists."""
        if self._stop_asked is not None:
            self._end("stopped", self._stop_reason or "stopped before its worker started")
            return False
        try:
            ray = ensure_ray()
            upload = upload_bytes(self.document)
            options = self._actor_options()
            _check_feasible(ray, options)
            self.actor = _actor_class.options(**options).remote(self.document.to_json(None), self._device, upload)
        except (RuntimeError, DatasetError) as error:
            self._end("error", str(error))
            return False
        self._launched_at = time.monotonic()
        return True

    def _actor_options(self) -> dict:
        """One CPU, plus `gpu_share` of a GPU for a CUDA job (a whole one when no share was given)."""
        options = {"num_cpus": 1, "max_restarts": 0}
        if (self._device or self.document.training.get("device")) == "cuda":
            options["num_gpus"] = self._gpu_share or 1.0
        return {**options, **self.actor_options}

    def _relay(self, ray) -> None:
        pending, unavailable_since = None, None
        while True:
            if pending is None:
                self._wake.clear()
                pending = self.actor.poll.remote(self._take_commands())
            ready, _ = ray.wait([pending], timeout=WAIT_SECONDS)
            if ready:
                answer, pending = pending, None
                try:
                    messages = ray.get(answer)
                except ray.exceptions.ActorUnavailableError:
                    unavailable_since = unavailable_since or time.monotonic()
                    if time.monotonic() - unavailable_since < UNAVAILABLE_SECONDS:
                        continue  # (poll again: the network may come back)
                    return self._lose("unavailable")
                except ray.exceptions.RayTaskError as error:  # poll itself raised: a bug, not a lost worker
                    return self._end("error", f"the training worker failed: {str(error).splitlines()[-1][:300]}")
                except ray.exceptions.RayError as error:
                    return self._lose(str(error))
                self._answered, unavailable_since = True, None
                if any([self._handle(message) for message in messages]):
                    return  # (the end message)
                self._wake.wait(POLL_SECONDS)
            self._watch_heartbeat()
            if self._stop_overdue():
                return self._kill()

    def _take_commands(self) -> list[str]:
        with self._lock:
            commands, self._queued = self._queued, []
        return commands

    def _watch_heartbeat(self) -> None:
        silent = time.monotonic() - self._last_beat
        if self.heartbeat_timeout and silent > self.heartbeat_timeout and not self._stop_reason:
            self._stop_reason = "stopped: its page has been closed (no heartbeat)"
            self.stop()

    def _stop_overdue(self) -> bool:
        if self._stop_asked is None:
            return False
        asked = max(self._stop_asked, self._launched_at or 0.0)
        return time.monotonic() - asked > process_runner.STOP_GRACE_SECONDS

    def _kill(self) -> None:
        """End an actor that did not stop in time; like `ProcessJobHandle._terminate`, nothing big is kept."""
        reason = self._stop_reason or "stopped by the user"
        if not self._answered:
            self._end("stopped", self._stop_reason or "stopped before its worker started")
            return  # (the actor never ran: nothing was lost; `_finish` kills it)
        self._weights, self._bundle = None, None
        self._end("stopped", f"{reason}; its worker was ended forcibly because one training step took longer than "
                             f"{process_runner.STOP_GRACE_SECONDS:g} s, so its last weights are lost: use a smaller "
                             "batch size or a smaller network for shorter steps")

    def _lose(self, detail: str) -> None:
        if self._answered:
            self._end("error", LOST)
        else:  # the actor never started: its node refused it (runtime environment, imports, resources)
            self._end("error", f"the Ray cluster could not start a training worker: {detail.strip()[-300:]}")

    def _handle(self, message: tuple) -> bool:
        kind = message[0]
        if kind == "update":
            _, status, text, epoch, step, best, wait, steps, epochs, snapshots = message
            self.metrics.add_steps(steps)
            if snapshots is not None:
                new, kept = snapshots
                self.metrics.mirror_snapshots([(epoch, to_tensor(flat)) for epoch, flat in new], kept)
            for record in epochs:
                self.metrics.add_epoch(record)
            self._counters.update(epoch=epoch, step=step, best_epoch=best, wait=wait)
            self.status = status
            self.message = self._stop_reason or text or (PREPARING if status == "pending" else "")
        elif kind == "info":
            _, self.info, self._counters["updates_per_epoch"], _ = message
            self._bundle = self._own_bundle()
        elif kind == "weights":
            self._weights = to_torch(message[1])
            self._weights_ready.set()
        elif kind == "end":
            _, status, text, weights = message
            self._weights = to_torch(weights)
            self._end(status, self._stop_reason if status == "stopped" and self._stop_reason else text)
            return True
        return False

    def _own_bundle(self):
        """The document's dataset, made here (the actor has just made the same one: it is valid)."""
        try:
            return load_bundle(self.document)
        except Exception:  # (only the views miss it; training goes on)
            LOG.exception("Ray job %s: could not make the dataset for the views", self.id)
            return None

    def _end(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    def _finish(self) -> None:
        if self.actor is not None:
            try:
                ensure_ray().kill(self.actor, no_restart=True)  # (after an end too: its CPU is free at once)
            except Exception:
                pass  # already gone with its node
        self._weights_ready.set()
        self._done.set()


def _check_feasible(ray, options: dict) -> None:
    """RuntimeError when the whole cluster lacks a resource the actor asks for (it would wait forever)."""
    wanted = {"GPU": options.get("num_gpus", 0), **options.get("resources", {})}
    have = ray.cluster_resources()
    for name, amount in wanted.items():
        if amount and have.get(name, 0) < amount:
            what = "a GPU" if name == "GPU" else f"the resource {name!r}"
            raise RuntimeError(f"no machine of the Ray cluster has {what}: pick device auto or cpu, "
                               "or add a node that has one (`ray start --address=...`)")


class RayRunner(ThreadRunner):
    """Like ThreadRunner, but each job trains in its own Ray actor (this machine or a cluster)."""

    handle_type = RayJobHandle

    def warm_up(self) -> None:
        """Connect to Ray (a local instance starts in ~2-3 s) in the background, before the first job."""
        def connect():
            try:
                ensure_ray()
            except RuntimeError as error:  # (each job reports it again when it starts)
                LOG.warning("%s", error)
        threading.Thread(target=connect, name="dlbuilder-ray-connect", daemon=True).start()
