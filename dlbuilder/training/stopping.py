"""Early stopping: watch the validation loss, count epochs without improvement, restore the best."""

from __future__ import annotations

import math

from torch import nn


class EarlyStopping:
    """Tracks the best epoch; `update` says when patience has run out."""

    def __init__(self, settings: dict, monitored: str = "validation loss"):
        self.monitored = monitored  # "training loss" when the data has no validation split
        self.patience = settings["patience"]
        self.min_delta = settings["min_delta"]
        self.restore_best = settings["restore_best"]
        self.best_loss = math.inf
        self.best_epoch = 0
        self.wait = 0  # epochs since the last improvement (the patience counter)
        self.stopped_epoch: int | None = None
        self._best_state: dict | None = None

    def update(self, epoch: int, loss: float, model: nn.Module) -> bool:
        """Record this epoch's monitored loss; True when training should stop."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.wait = loss, epoch, 0
            if self.restore_best:
                self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def finish(self, model: nn.Module) -> str:
        """Restore the best weights if asked; return what happened in one sentence."""
        restored = self.restore_best and self._best_state is not None
        if restored:
            model.load_state_dict(self._best_state)
        tail = f"; restored the weights of epoch {self.best_epoch}" if restored else ""
        return (f"early stopping at epoch {self.stopped_epoch}: {self.monitored} has not improved for "
                f"{self.patience} epochs since epoch {self.best_epoch} ({self.best_loss:.4g}){tail}")
