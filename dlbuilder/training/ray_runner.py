"""Jobs as Ray actors: one actor per job, on this machine or any node of a Ray cluster.

`RayJobHandle` has the interface of `JobHandle` and `ProcessJobHandle`, so pages and the scheduler
do not know the difference. Its relay thread creates the actor (`ray_worker.TrainingActor`, which
trains in a thread `JobHandle`), then polls it ~10 times a second: one `poll(commands)` round trip
carries the parent's commands there and the news back. Only plain data crosses the wire (the
document as JSON, weights as NumPy arrays, our record dataclasses); the parent makes its own copy
of the dataset from the document (same seed, same data). An actor whose process or machine is lost
ends its job with an error, and only that job.

`ensure_ray` connects once per process (`ray_connect`): to the cluster at $RAY_ADDRESS, else to a
new local Ray instance.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from dlbuilder.datasets import uploaded
from dlbuilder.datasets.base import DatasetError
from dlbuilder.document import Document
from dlbuilder.training import process_runner
from dlbuilder.training.job import ThreadRunner
from dlbuilder.training.process_runner import PREPARING
from dlbuilder.training.relayed import RelayedHandle
from dlbuilder.training.ray_connect import connect
from dlbuilder.training.ray_worker import TrainingActor, to_tensor, to_torch
from dlbuilder.training.setup import load_bundle

LOG = logging.getLogger(__name__)
# Between an answer and the next poll (~10 polls a second; a command is sent at once). Measured on
# 2 vCPUs: a poll round trip takes ~2.5 ms; relaying cost the server ~2.6% of a core per job at
# 10 polls/s and 4-7% at 20/s, with no difference in updates/s.
POLL_SECONDS = 0.1
WAIT_SECONDS = 0.2  # while a poll is unanswered, heartbeats and overdue stops are checked this often
UNAVAILABLE_SECONDS = 30.0  # an actor unreachable this long (network trouble) counts as lost
STARTING = "starting a worker on the Ray cluster (it waits while every worker is busy)…"
LOST = "the training worker was lost (its process or machine stopped): start again"
_actor_class = None


def ensure_ray():
    """Connect to Ray once (see `ray_connect`); the `ray` module. RuntimeError says what to change."""
    global _actor_class
    ray = connect()
    if _actor_class is None:
        _actor_class = ray.remote(TrainingActor)  # (the same class serves every later connection)
    return ray


_capacity = {"at": -math.inf, "cpus": None}
CAPACITY_SECONDS = 5.0  # how long a reading of the cluster's CPUs is trusted (nodes come and go)


def cluster_cpus() -> int | None:
    """The Ray cluster's CPUs (one job each), read at most every CAPACITY_SECONDS; None before it is connected."""
    if time.monotonic() - _capacity["at"] > CAPACITY_SECONDS:
        _capacity["at"] = time.monotonic()
        try:
            import ray

            cpus = ray.cluster_resources().get("CPU", 0) if ray.is_initialized() else 0
        except Exception:  # noqa: BLE001 (a cluster that is going away: keep the last reading)
            cpus = 0
        if cpus >= 1:
            _capacity["cpus"] = int(cpus)
    return _capacity["cpus"]


def upload_bytes(document: Document) -> bytes | None:
    """The uploaded CSV file a document trains on (read here: a remote node cannot see this cache)."""
    if document.data is None or document.data.name not in uploaded.UPLOADED_DATASETS:
        return None
    return uploaded.read_upload(str(document.data.params.get("file", "")))


class RayJobHandle(RelayedHandle):
    """The parent's view of a job in a Ray actor (same interface as `JobHandle`)."""

    accepts_gpu_share = True
    capacity = staticmethod(cluster_cpus)  # the scheduler runs as many jobs as the cluster has CPUs
    actor_options: dict = {}  # more `.options()` for the actor (tests pin jobs to one node by a custom resource)

    def __init__(self, document: Document, device: str | None = None, heartbeat_timeout: float | None = None,
                 gpu_share: float = 0.0):
        if not (math.isfinite(gpu_share) and 0.0 <= gpu_share <= 1.0):
            raise ValueError(f"gpu_share must be a fraction of one GPU between 0 and 1, not {gpu_share!r}")
        super().__init__(document, device, heartbeat_timeout)
        self.actor = None
        self._lock = threading.Lock()
        self._wake = threading.Event()  # a command is waiting: poll now
        self._gpu_share = gpu_share
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

    # -- the relay thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            ray = self._launch()
            if ray is not None:
                self._relay(ray)
        except Exception as error:  # (a relay bug must end the job visibly, never leave it "running")
            LOG.exception("Ray job %s: relay failed", self.id)
            self._end("error", f"training stopped with an error: {type(error).__name__}: {str(error)[:300]}")
        finally:
            self._finish()

    def _launch(self):
        """Create the actor and return the `ray` module; None (with the status set) if the job ended first."""
        if self._stop_asked is not None:
            self._end("stopped", self._stop_reason or "stopped before its worker started")
            return None
        try:
            ray = ensure_ray()
            upload = upload_bytes(self.document)
            options = self._actor_options()
            _check_feasible(ray, options)
            self.actor = _actor_class.options(**options).remote(self.document.to_json(None), self._device, upload)
        except (RuntimeError, DatasetError) as error:
            self._end("error", str(error))
            return None
        self._launched_at = time.monotonic()
        return ray

    def _actor_options(self) -> dict:
        """One CPU, plus `gpu_share` of a GPU for a CUDA job (a whole one when no share was given)."""
        options = {"num_cpus": 1, "max_restarts": 0}
        if (self._device or self.document.training.get("device")) == "cuda":
            options["num_gpus"] = self._gpu_share or 1.0
        return {**options, **self.actor_options}

    def _relay(self, ray) -> None:
        """Poll until the end message, a lost actor, or an overdue stop (one poll in flight at a time)."""
        pending, unreachable_since = None, None
        while True:
            if pending is None:
                self._wake.clear()
                pending = self.actor.poll.remote(self._take_commands())
            ready, _ = ray.wait([pending], timeout=WAIT_SECONDS)
            if ready:
                answer, pending = pending, None
                try:
                    messages = ray.get(answer)
                    self._answered, unreachable_since = True, None
                except ray.exceptions.ActorUnavailableError:  # (the network may come back: poll again)
                    unreachable_since = unreachable_since or time.monotonic()
                    if time.monotonic() - unreachable_since > UNAVAILABLE_SECONDS:
                        return self._lose(f"unreachable for {UNAVAILABLE_SECONDS:g} s")
                    messages = []
                except ray.exceptions.RayTaskError as error:  # poll itself raised: a bug, not a lost worker
                    return self._end("error", f"the training worker failed: {str(error).splitlines()[-1][:300]}")
                except ray.exceptions.RayError as error:
                    return self._lose(str(error))
                if any([self._handle(message) for message in messages]):
                    return  # (the end message)
                self._wake.wait(POLL_SECONDS)
            self._watch_heartbeat()
            if self._stop_overdue(process_runner.STOP_GRACE_SECONDS):
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

    def _kill(self) -> None:
        """End an actor that did not stop in time; like `ProcessJobHandle._terminate`, nothing big is kept."""
        if not self._answered:
            self._end("stopped", self._stop_reason or "stopped before its worker started")
            return  # (the actor never ran: nothing was lost; `_finish` kills it)
        self._forced_stop(process_runner.STOP_GRACE_SECONDS)

    def _lose(self, detail: str) -> None:
        if self._answered:
            self._end("error", LOST)
        else:  # the actor never started: its node refused it (runtime environment, imports, resources)
            self._end("error", f"the Ray cluster could not start a training worker: {detail.strip()[-300:]}")

    def _handle(self, message: tuple) -> bool:
        kind = message[0]
        if kind == "update":
            snapshots = message[-1]
            if snapshots is not None:
                new, kept = snapshots
                message = (*message[:-1], ([(epoch, to_tensor(flat)) for epoch, flat in new], kept))
            self._apply_update(message, PREPARING)
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
            import ray  # (imported: there is an actor)

            try:
                if ray.is_initialized():  # (not after a shutdown: that would start a new instance)
                    ray.kill(self.actor, no_restart=True)  # (after an end too: its CPU is free at once)
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
            if name == "GPU":
                raise RuntimeError("no machine of the Ray cluster has a GPU: pick device auto or cpu, or add a "
                                   "machine with one (`ray start --address=...` on it)")
            raise RuntimeError(f"no machine of the Ray cluster has the resource {name!r}: add one that has it "
                               f"(`ray start --address=... --resources='{{\"{name}\": 1}}'` on it)")


class RayRunner(ThreadRunner):
    """Like ThreadRunner, but each job trains in its own Ray actor (this machine or a cluster)."""

    handle_type = RayJobHandle

    def warm_up(self) -> None:
        """Connect to Ray (a local instance starts in ~2-3 s) in the background, before the first job."""
        def connect_quietly():
            try:
                ensure_ray()
            except RuntimeError as error:  # (each job reports it again when it starts)
                LOG.warning("%s", error)
        threading.Thread(target=connect_quietly, name="dlbuilder-ray-connect", daemon=True).start()
