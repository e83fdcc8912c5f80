"""Training a group of runs together: one `ChainStack` update per mini-batch, one scoring pass per epoch.

Each run keeps what it would have alone (`Trainer` + NumPy fast path): its seed's data and initial
weights (`training.setup.prepare`), its own batch order (a torch generator seeded like the trainer's),
its learning-rate schedule, early stopping and divergence check; its epoch records carry the same
numbers. A run that stops early or diverges leaves the group; the others go on.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from dlbuilder.experiments.batched import EVAL_CHUNK, ChainStack, batch_loss
from dlbuilder.experiments.results import RunState
from dlbuilder.training import fastpath
from dlbuilder.training.metrics import EpochRecord, StepRecord
from dlbuilder.training.setup import load_bundle, prepare
from dlbuilder.training.stopping import EarlyStopping


class NotBatchable(Exception):
    """The fast path cannot train one of the group's runs: they train as separate runs instead."""


class SplitArrays:
    """One split of one seed's data as NumPy arrays: inputs, loss targets, class ids."""

    def __init__(self, split):
        self.x, self.t, self.y = split.x.numpy(), split.t.numpy(), split.y.numpy()
        self.size = len(self.x)


def _stacked(parts: list[SplitArrays]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(x, t, y) stacked over seeds (seeds, n, ...); None for an empty split."""
    if parts[0].size == 0:
        return None
    return tuple(np.stack([getattr(p, name) for p in parts]) for name in ("x", "t", "y"))


class VectorisedGroup:
    """Runs of one architecture (differing in seed, learning rate, init or L2) trained as one stack."""

    def __init__(self, states: list[RunState]):
        self.states = states
        self.stack: ChainStack | None = None
        self.done = False

    def start(self) -> None:
        """Prepare every run (data, initial weights) and stack them; NotBatchable if one does not fit."""
        bundles, self.setups, chains = {}, [], []
        for state in self.states:
            document = state.run.document
            if document.seed not in bundles:
                bundles[document.seed] = load_bundle(document)
            setup = prepare(document, bundle=bundles[document.seed])
            chain = fastpath.build(document, setup)
            if chain is None:
                raise NotBatchable(state.run.label)
            self.setups.append(setup)
            chains.append(chain)
        first = self.setups[0]
        self.settings, self.loss, self.problem = first.settings, first.loss, first.problem
        seeds = list(bundles)  # one copy of the data per seed; runs point at theirs with data_index
        seed_setups = [next(s for s, st in zip(self.setups, self.states) if st.run.document.seed == seed)
                       for seed in seeds]
        self.data_index = np.array([seeds.index(st.run.document.seed) for st in self.states])
        self.splits = {name: _stacked([SplitArrays(s.splits[name]) for s in seed_setups])
                       for name in ("train", "train_eval", "val", "test_eval")}
        self.train_x, self.train_t = self.splits["train"][0], self.splits["train"][1]  # (seeds, N, ...)
        self.num_train = first.num_train
        self.batch_size = min(self.settings["batch_size"], self.num_train)
        self.stack = ChainStack(chains, self.settings, self.loss, [s.settings["l2"] for s in self.setups])
        self.active = list(range(len(self.states)))  # positions in self.states still training
        self.generators = [torch.Generator().manual_seed(st.run.document.seed) for st in self.states]
        monitored = "validation loss" if self.splits["val"] is not None else "training loss"
        quiet = {**self.settings, "restore_best": False}  # a sweep keeps curves, not weights
        self.stopping = [EarlyStopping(quiet, monitored) if self.settings["early_stopping"] else None
                         for _ in self.states]
        self.epoch, self.step_count, self.started = 0, 0, time.perf_counter()
        others = len(self.states) - 1
        for state, setup in zip(self.states, self.setups):
            state.metric_name = setup.metric_name
            state.begin(f"vectorised with {others} other{'s' if others != 1 else ''}")

    # -- one epoch ------------------------------------------------------------------------------------------

    def advance(self) -> None:
        """Train every active run for one epoch and record it; `done` once none is left."""
        if self.stack is None:
            self.start()
        tick = time.perf_counter()
        orders = np.stack([self._order(self.generators[i]) for i in self.active])  # (R, N)
        rows_of = self.data_index[self.active][:, None]
        lr = np.array([self.setups[i].optimizer.param_groups[0]["lr"] for i in self.active])
        losses = []
        for start in range(0, self.num_train, self.batch_size):
            rows = orders[:, start:start + self.batch_size]
            losses.append(self.stack.update(self.train_x[rows_of, rows], self.train_t[rows_of, rows], lr))
        seconds = time.perf_counter() - tick
        self._finish_epoch(np.stack(losses, axis=1), lr, seconds)  # losses (R, updates)

    def _order(self, generator: torch.Generator) -> np.ndarray:
        if self.settings.get("shuffle", True):
            return torch.randperm(self.num_train, generator=generator).numpy()
        return np.arange(self.num_train)

    def _finish_epoch(self, losses: np.ndarray, lr: np.ndarray, seconds: float) -> None:
        first_step = self.step_count + 1
        self.step_count += losses.shape[1]
        self.epoch += 1
        scores = {"train": self._score("train_eval"), "val": self._score("val")}
        # without a validation split the test split is the held-out curve (as in Trainer)
        scores["test"] = self._score("test_eval") if scores["val"] is None else None
        keep = np.ones(len(self.active), dtype=bool)
        for position, index in enumerate(self.active):
            state = self.states[index]
            rate = float(lr[position])
            state.metrics.add_steps([StepRecord(first_step + k, self.epoch - 1, v, rate)
                                     for k, v in enumerate(losses[position].tolist())])
            keep[position] = self._record(index, position, losses[position], scores, lr[position], seconds)
        if not keep.all():
            self.stack.keep(keep)
            self.active = [index for index, kept in zip(self.active, keep) if kept]
        self.done = not self.active

    def _record(self, index: int, position: int, losses: np.ndarray, scores: dict, lr: float,
                seconds: float) -> bool:
        """Publish one run's epoch record, step its schedule, check stopping; False when it has ended."""
        state, setup = self.states[index], self.setups[index]
        bad = np.flatnonzero(~np.isfinite(losses))
        train_loss, train_metric = scores["train"][0][position], scores["train"][1][position]
        if len(bad) or not math.isfinite(train_loss):
            step = self.step_count - len(losses) + 1 + (int(bad[0]) if len(bad) else len(losses) - 1)
            state.end("diverged", f"the loss became NaN/Inf at update {step} (epoch {self.epoch}): the learning "
                      f"rate {lr:g} is probably too high; try {lr / 10:g}, or turn on gradient clipping")
            return False
        val = scores["val"]
        test = scores["test"] if val is None else None
        state.metrics.add_epoch(EpochRecord(
            epoch=self.epoch, step=self.step_count, train_loss=float(train_loss), train_metric=float(train_metric),
            val_loss=_at(val, 0, position), val_metric=_at(val, 1, position),
            test_loss=_at(test, 0, position), test_metric=_at(test, 1, position), learning_rate=float(lr),
            examples_per_second=self.num_train / seconds if seconds > 0 else 0.0,
            seconds=time.perf_counter() - self.started))
        monitored = val[0][position] if val is not None else train_loss
        setup.step_schedule(float(monitored))
        stopping = self.stopping[index]
        if stopping and stopping.update(self.epoch, float(monitored), None):
            state.end("early_stopped", stopping.finish(None))
            return False
        if self.epoch >= self.settings["epochs"]:
            state.end("finished", f"finished {self.epoch} epochs")
            return False
        return True

    def _score(self, split: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(loss, metric) of every active network on one split of its data; None for an empty split."""
        if self.splits[split] is None:
            return None
        index = self.data_index[self.active]
        x, t, y = (array[index] for array in self.splits[split])  # (R, n, ...)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outputs = [self.stack.forward(x[:, s:s + EVAL_CHUNK])[-1] for s in range(0, x.shape[1], EVAL_CHUNK)]
        p = np.concatenate(outputs, axis=1)  # (R, n, out)
        loss = batch_loss(self.loss, p, t)[0]
        if self.problem != "classification":
            residual = ((p - t).astype(np.float64) ** 2).reshape(len(p), -1).sum(axis=1)
            flat = t.reshape(len(t), -1).astype(np.float64)
            total = ((flat - flat.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
            return loss, np.where(total > 0, 1 - residual / np.where(total > 0, total, 1), np.nan)
        predicted = (p[..., 0] > 0) if p.shape[-1] == 1 else p.argmax(axis=-1)
        return loss, (predicted == y).mean(axis=1)

    def stop(self, message: str) -> None:
        """End every active run (the sweep was cancelled)."""
        for index in getattr(self, "active", range(len(self.states))):
            if self.states[index].status in ("queued", "running"):
                self.states[index].end("stopped", message)
        self.done = True


def _at(score, which: int, position: int) -> float | None:
    return None if score is None else float(score[which][position])
