"""What the process and Ray handles share: a job trained elsewhere, seen through relayed messages.

Both keep the worker's metrics (`RelayedMetrics`), counters, info, dataset and last weights copy
in this process; commands go out through the subclass's `_send` (a pipe, or a Ray actor's queue).
"""

from __future__ import annotations

import itertools
import threading
import time

from dlbuilder.training.job import HandleBase, JobSnapshot
from dlbuilder.training.metrics import MetricsStream

_ids = itertools.count(1)


class RelayedMetrics(MetricsStream):
    """The parent's copy of a worker's metrics: its weight snapshots mirror the worker's exactly."""

    def mirror_snapshots(self, new: list, kept: list[int]) -> None:
        """Add the worker's new snapshots and drop those it has thinned out (at most as many as it keeps).

        Feeding them through `add_snapshot` would thin them twice: the parent would see fewer epochs.
        """
        keep = set(kept)
        with self._lock:
            items = [item for item in self._snapshots.items + list(new) if item[0] in keep]
            self._snapshots.items = items[-self._snapshots.capacity:]


class RelayedHandle(HandleBase):
    """Control and reads of a relayed job; subclasses send commands (`_send`) and fill the fields."""

    def __init__(self, document, device: str | None = None, heartbeat_timeout: float | None = None):
        self.id = next(_ids)
        self.document = document
        self.metrics = RelayedMetrics()
        self.status, self.message = "pending", ""
        self.heartbeat_timeout = heartbeat_timeout
        self.info: dict = {}
        self._counters = {"epoch": 0, "step": 0, "updates_per_epoch": 0, "best_epoch": None, "wait": None}
        self._bundle = None
        self._weights: dict | None = None
        self._weights_ready = threading.Event()
        self._last_beat = time.monotonic()
        self._done = threading.Event()
        self._queued: list[str] = []  # commands given before the worker was there
        self._stop_reason = ""
        self._device = device
        self._launched_at: float | None = None

    def _send(self, command: str) -> None:
        raise NotImplementedError

    def _apply_update(self, message: tuple, preparing: str) -> None:
        """Take in an "update" message: new records, mirrored snapshots (already in tensors), counters, status."""
        _, status, text, epoch, step, best, wait, steps, epochs, snapshots = message
        self.metrics.add_steps(steps)
        if snapshots is not None:
            self.metrics.mirror_snapshots(*snapshots)
        for record in epochs:
            self.metrics.add_epoch(record)
        self._counters.update(epoch=epoch, step=step, best_epoch=best, wait=wait)
        self.status = status
        self.message = self._stop_reason or text or (preparing if status == "pending" else "")

    def _stop_overdue(self, grace: float) -> bool:
        """Stop was asked for more than `grace` seconds ago (a stop given during the launch counts from its end)."""
        if self._stop_asked is None:
            return False
        return time.monotonic() - max(self._stop_asked, self._launched_at or 0.0) > grace

    def _forced_stop(self, grace: float) -> None:
        """The job's worker was ended by force after `grace` seconds: say so, and keep nothing big.

        Its last weights miss the updates since they were copied, and the dataset only served to draw them.
        """
        self._weights, self._bundle = None, None
        reason = self._stop_reason or "stopped by the user"
        self.status = "stopped"
        self.message = (f"{reason}; its worker was ended forcibly because one training step took longer than "
                        f"{grace:g} s, so its last weights are lost: use a smaller batch size or a smaller network "
                        "for shorter steps")

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        """Ask the worker to stop after its current step; it is ended by force if that takes too long."""
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
        """The dataset as the worker generated it (None until the job has started)."""
        return self._bundle

    def state_dict(self, timeout: float = 0.5) -> dict | None:
        """Recent weights (CPU tensors, copied between two steps); the final ones once the job has ended.

        While it runs, this asks the worker for fresh weights and returns the last ones received
        (one refresh old) without waiting, so a live page never stalls on the worker.
        """
        if self.active:
            self._weights_ready.clear()
            self._send("weights")
            if self._weights is None:
                self._weights_ready.wait(timeout)
        return self._weights
