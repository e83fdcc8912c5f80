"""The training loop: in-memory tensors, no DataLoader, one update per `step()` call.

Tiny networks spend ~98% of a step in framework overhead, so the loop keeps the whole
dataset in tensors on the device, shuffles once per epoch and slices views per batch,
and only talks to Python (`.item()`) when it must.
"""

from __future__ import annotations

import math
import os
import time

import torch

from dlbuilder.document import Document
from dlbuilder.training import fastpath
from dlbuilder.training.decoding import DECODE_EVAL_LIMIT, decoded_accuracy
from dlbuilder.training.evaluation import evaluate, layer_norms
from dlbuilder.training.losses import compute_loss
from dlbuilder.training.metrics import EpochRecord, MetricsStream, StepRecord
from dlbuilder.training.setup import Setup, prepare
from dlbuilder.training.stopping import EarlyStopping

SNAPSHOT_MAX_PARAMETERS = 100_000  # larger nets keep no weight path (memory)


class Diverged(RuntimeError):
    """The loss or the weights became NaN/Inf; the message says when and what to try."""


class Trainer:
    """Owns model, optimizer and data for one run; `step()` does one mini-batch update."""

    def __init__(self, document: Document, device: str | None = None, metrics: MetricsStream | None = None,
                 bundle=None, fast_path: bool | None = None):
        self.setup: Setup = prepare(document, device=device, bundle=bundle)
        if fast_path is None:
            fast_path = os.environ.get("DLBUILDER_FAST_PATH", "1") != "0"
        self._fast = fastpath.build(document, self.setup) if fast_path else None
        self.metrics = metrics or MetricsStream()
        s = self.setup
        self.settings = s.settings
        self.batch_size = min(s.settings["batch_size"], s.num_train)
        self.num_train = s.num_train
        self.updates_per_epoch = math.ceil(s.num_train / self.batch_size)
        self.epoch = 0  # completed epochs
        self.step_count = 0
        self.done = False
        self.stop_reason = ""
        monitored = "validation loss" if len(s.splits["val"]) else "training loss"
        self.stopping = EarlyStopping(s.settings, monitored) if s.settings["early_stopping"] else None
        self._generator = torch.Generator().manual_seed(document.seed)
        self._position = self.num_train  # forces a shuffle on the first step
        self._pending: list[torch.Tensor] = []
        self._more: tuple[torch.Tensor, ...] = ()  # this epoch's further inputs, shuffled like x
        # Losses reach Python in groups: per-step locking and .tolist() cost ~2% of a tiny net's step,
        # and on a GPU every .item() waits for the device. Epoch ends and pauses flush too.
        self._flush_every = 10 if s.device.type == "cpu" else 50
        self._started = time.perf_counter()
        self._train_seconds = 0.0
        self._epoch_examples = 0
        self._snapshot()

    # -- one update -------------------------------------------------------------------------

    def step(self) -> bool:
        """One mini-batch update (an epoch ends when its last batch is done); False once finished."""
        if self.done:
            return False
        if self._position >= self.num_train:
            self._shuffle()
        tick = time.perf_counter()
        end = self._position + self.batch_size
        if self._fast is not None:
            loss = self._fast.update(self._position, end)
        elif self._more:  # further inputs (seq2seq's decoder input), cut with the same rows
            more = tuple(m[self._position:end] for m in self._more)
            loss = self._update(self._x[self._position:end], self._t[self._position:end], more).detach()
        else:
            loss = self._update(self._x[self._position:end], self._t[self._position:end]).detach()
        self._epoch_examples += min(end, self.num_train) - self._position
        self._position = end
        self.step_count += 1
        self._pending.append(loss)
        if len(self._pending) >= self._flush_every:
            self._flush()
        self._train_seconds += time.perf_counter() - tick
        if self._position >= self.num_train:
            self._finish_epoch()
        return not self.done

    def _shuffle(self) -> None:
        train = self.setup.splits["train"]
        if self.settings.get("shuffle", True):
            order = torch.randperm(self.num_train, generator=self._generator)
        else:  # Playground's order: the same fixed walk through the training set every epoch
            order = torch.arange(self.num_train)
        if self._fast is not None:
            self._fast.batch(order.numpy())
        else:
            order = order.to(self.setup.device)
            self._x, self._t = train.x[order], train.t[order]
            self._more = tuple(m[order] for m in train.more_x)
        self._position = 0
        self._epoch_examples = 0
        self._epoch_started = self._train_seconds

    def _update(self, xb: torch.Tensor, tb: torch.Tensor, more: tuple[torch.Tensor, ...] = ()) -> torch.Tensor:
        s = self.setup
        if not s.model.training:  # walking every module costs ~5% of a tiny net's step
            s.model.train()
        with s.autocast():
            loss = compute_loss(s.loss_fn, s.loss, s.model(xb, *more), tb)
        total = loss + s.penalty() if s.has_penalty else loss
        s.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if self.settings["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(s.model.parameters(), self.settings["grad_clip"], foreach=True)
        s.optimizer.step()
        return loss

    def flush(self) -> None:
        """Publish the losses of updates not yet reported and bring the torch model up to date."""
        if self._pending:
            self._flush()
        self.sync_weights()

    def sync_weights(self) -> None:
        """Copy the fast path's weights into the torch model, which pages, probes and checkpoints read.

        The NumPy fast path keeps its own arrays between updates; a few small copies make the
        model current mid-epoch (after a pause, a single step or a stop), not only at epoch ends.
        """
        if self._fast is not None and not self.done:  # once done, the torch model (maybe restored) rules
            self._fast.write_back()

    def _flush(self) -> None:
        values = list(self._pending) if self._fast is not None else torch.stack(self._pending).float().tolist()
        first = self.step_count - len(values) + 1
        self._pending.clear()
        bad = next((i for i, v in enumerate(values) if not math.isfinite(v)), None)
        if bad is not None:
            self._diverged(first + bad)
        lr = self.setup.optimizer.param_groups[0]["lr"]
        self.metrics.add_steps([StepRecord(first + i, self.epoch, v, lr) for i, v in enumerate(values)])

    def _diverged(self, step: int) -> None:
        lr = self.settings["learning_rate"]
        self.done = True
        raise Diverged(f"the loss became NaN/Inf at update {step} (epoch {self.epoch + 1}): the learning "
                       f"rate {lr:g} is probably too high; try {lr / 10:g}, or turn on gradient clipping")

    # -- end of an epoch --------------------------------------------------------------------

    def _finish_epoch(self) -> None:
        self.flush()  # also syncs the fast path's weights: scoring, norms and snapshots read the torch model
        epoch = self.epoch + 1  # published (self.epoch) only with its record, so readers agree
        s = self.setup
        seconds = self._train_seconds - self._epoch_started
        train = evaluate(s, s.splits["train_eval"])
        val = evaluate(s, s.splits["val"]) if len(s.splits["val"]) else None
        # Without a validation split (Playground's setup) the test split is the held-out curve a
        # student watches; "test_eval" bounds its cost per epoch (see setup.TEST_EVAL_WORK).
        test = evaluate(s, s.splits["test_eval"]) if val is None and len(s.splits["test_eval"]) else None
        if not math.isfinite(train.loss):
            self._diverged(self.step_count)
        weights, grads = layer_norms(s.model)
        held_out = s.splits["val"] if val else s.splits["test_eval"]
        record = EpochRecord(
            epoch=epoch, step=self.step_count, train_loss=train.loss,
            val_loss=val.loss if val else None, train_metric=train.metric,
            val_metric=val.metric if val else None,
            test_loss=test.loss if test else None, test_metric=test.metric if test else None,
            learning_rate=s.optimizer.param_groups[0]["lr"],
            examples_per_second=self._epoch_examples / seconds if seconds > 0 else 0.0,
            seconds=time.perf_counter() - self._started, weight_norms=weights, grad_norms=grads,
            train_sequence_metric=train.sequence_metric, val_sequence_metric=val.sequence_metric if val else None,
            test_sequence_metric=test.sequence_metric if test else None,
            decoded_sequence_metric=decoded_accuracy(s, held_out, DECODE_EVAL_LIMIT))
        self.metrics.add_epoch(record)
        self.epoch = epoch
        # Early stopping and schedules watch validation loss (training loss without a validation
        # split), never the test split: choosing by test loss would leak the test set into training.
        monitored = val.loss if val else train.loss
        s.step_schedule(monitored)
        self._snapshot()
        if self.stopping and self.stopping.update(self.epoch, monitored, s.model):
            self.done, self.stop_reason = True, self.stopping.finish(s.model)
        elif self.epoch >= self.settings["epochs"]:
            self.done, self.stop_reason = True, f"finished {self.epoch} epochs"

    def _snapshot(self) -> None:
        params = list(self.setup.model.parameters())
        if sum(p.numel() for p in params) <= SNAPSHOT_MAX_PARAMETERS:
            flat = torch.cat([p.detach().reshape(-1) for p in params]).float().cpu()
            self.metrics.add_snapshot(self.epoch, flat)

    # -- results ----------------------------------------------------------------------------

    def test_results(self) -> dict:
        """Final loss and metric on the test set (and the training set) with the current weights."""
        s = self.setup
        test = evaluate(s, s.splits["test"]) if len(s.splits["test"]) else None
        train = evaluate(s, s.splits["train_eval"])
        results = {"train_loss": train.loss, "train_metric": train.metric,
                   "test_loss": test.loss if test else None, "test_metric": test.metric if test else None,
                   "metric_name": s.metric_name}
        if train.sequence_metric is not None:  # per-step targets: whole sequences right (exact match)
            results["test_sequence_metric"] = test.sequence_metric if test else None
            results["test_decoded_metric"] = decoded_accuracy(s, s.splits["test"])  # seq2seq: greedy
        return results

