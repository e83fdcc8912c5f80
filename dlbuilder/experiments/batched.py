"""The NumPy fast path batched over networks: R Dense chains of one shape, one update for all of them.

`training/fastpath.NumpyChain` trains one Playground-sized net ~10x faster than PyTorch eager; its
cost is almost all per-call overhead (a few µs per NumPy call on matrices of 10 x 8). Stacking R
networks' weights as (R, out, in) arrays makes every call do R networks' work for the same overhead:
16 nets of 7-8x6-1 train ~20x faster together than one after another (bench/sweeps.py).

The arithmetic mirrors `NumpyChain` operation for operation (same float32 scalars, same order), so each
network follows the path it would follow alone; only the summation order inside batched matrix
products differs (float32 rounding, ~1e-7). Per network: its data (by seed), batch order, learning
rate and L2; shared: the architecture, batch size, optimizer and its other settings.
"""

from __future__ import annotations

import numpy as np

from dlbuilder.training.fastpath import activate, activation_slope, adam_moments

F32 = np.float32
EVAL_CHUNK = 1024  # examples per network scored at once at epoch ends (memory: R x chunk x width)


def _column(values) -> np.ndarray:
    """Per-network numbers as float32 (R, 1, 1), to scale (R, out, in) arrays."""
    return np.asarray(values, dtype=np.float64).astype(F32)[:, None, None]


class ChainStack:
    """Weights of R networks as float32 (R, out, in) / (R, out) arrays; `update` steps all of them."""

    def __init__(self, chains: list, settings: dict, loss: str, l2: list[float]):
        first = chains[0]
        self.activations = first.activations
        self.weights = [np.stack([c.weights[i] for c in chains]) for i in range(len(first.weights))]
        self.biases = [np.stack([c.biases[i] for c in chains]) for i in range(len(first.biases))]
        self.velocity: list = [None] * (2 * len(self.weights))
        self.adam_steps = 0
        self.settings, self.loss = settings, loss
        self.l2 = np.asarray(l2, dtype=np.float64)  # per network; AdamW decays instead (as in NumpyChain)

    @property
    def count(self) -> int:
        return len(self.weights[0])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the networks where `mask` is False (they stopped); the others go on unchanged."""
        self.weights = [w[mask] for w in self.weights]
        self.biases = [b[mask] for b in self.biases]
        self.l2 = self.l2[mask]
        self.velocity = [v if v is None else (tuple(p[mask] for p in v) if isinstance(v, tuple) else v[mask])
                         for v in self.velocity]

    def net(self, index: int) -> list[np.ndarray]:
        """Copies of one network's arrays [w0, b0, w1, b1, ...] (kept by early stopping)."""
        return [a[index].copy() for pair in zip(self.weights, self.biases) for a in pair]

    # -- forward and backward --------------------------------------------------------------------------

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's output for x (R, B, in); the last is the networks' output (R, B, out)."""
        outputs = [x]
        for weight, bias, activation in zip(self.weights, self.biases, self.activations):
            outputs.append(activate(np.matmul(outputs[-1], weight.transpose(0, 2, 1)) + bias[:, None, :],
                                     activation))
        return outputs

    def update(self, x: np.ndarray, t: np.ndarray, lr: np.ndarray) -> np.ndarray:
        """One optimizer step of every network on its batch x (R, B, in), t; returns the losses (R,)."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outputs = self.forward(x)
            loss, grad = batch_loss(self.loss, outputs[-1], t)
            grads = []
            for index in range(len(self.weights) - 1, -1, -1):
                if self.activations[index] != "identity":
                    grad = grad * activation_slope(outputs[index + 1], self.activations[index])
                grads.append(np.matmul(grad.transpose(0, 2, 1), outputs[index]))  # (R, out, in)
                grads.append(grad.sum(axis=1))
                if index:
                    grad = np.matmul(grad, self.weights[index])
            grads.reverse()  # [b0, w0, b1, w1, ...]: pair them as the weights are
            self._step([g for i in range(len(self.weights)) for g in (grads[2 * i + 1], grads[2 * i])], lr)
        return loss

    # -- the optimizer ---------------------------------------------------------------------------------

    def _step(self, grads: list[np.ndarray], lr: np.ndarray) -> None:
        s = self.settings
        params = [p for pair in zip(self.weights, self.biases) for p in pair]
        l2 = np.zeros_like(self.l2) if s["optimizer"] == "adamw" else self.l2
        for index in range(0, len(params), 2):  # penalties on weight matrices only
            if s["l1"] > 0:
                grads[index] = grads[index] + s["l1"] * np.sign(params[index])
            if np.any(l2 > 0):
                grads[index] = grads[index] + _column(2 * l2) * params[index]
        if s["grad_clip"] > 0:
            grads = self._clip(grads, s["grad_clip"])
        if s["optimizer"] in ("adam", "adamw"):
            self._adam(params, grads, lr)
            return
        momentum = s["momentum"] if s["optimizer"] != "sgd" else 0.0
        rate = _column(lr)
        for index, (param, grad) in enumerate(zip(params, grads)):
            if momentum:
                buffer = grad.copy() if self.velocity[index] is None else momentum * self.velocity[index] + grad
                self.velocity[index] = buffer
                grad = grad + momentum * buffer if s["optimizer"] == "nesterov" else buffer
            param -= _scale(rate, param) * grad

    @staticmethod
    def _clip(grads: list[np.ndarray], limit: float) -> list[np.ndarray]:
        """Each network's gradients scaled to norm `limit` when longer (NumpyChain's rule, per network)."""
        squares = sum((g * g).reshape(len(g), -1).sum(axis=1).astype(np.float64) for g in grads)
        norm = np.sqrt(squares)
        factor = _column(np.where(norm > limit, limit / (norm + 1e-6), 1.0))  # x 1.0 leaves a gradient as it is
        return [g * _scale(factor, g) for g in grads]

    def _adam(self, params: list[np.ndarray], grads: list[np.ndarray], lr: np.ndarray) -> None:
        """torch.optim.Adam / AdamW with a learning rate per network (NumpyChain._adam, batched)."""
        s = self.settings
        beta1, beta2 = s["beta1"], s["beta2"]
        self.adam_steps += 1
        correction1 = 1 - beta1 ** self.adam_steps
        root2 = (1 - beta2 ** self.adam_steps) ** 0.5
        step = _column(np.asarray(lr) / correction1)
        decay = _column(1 - np.asarray(lr) * self.l2) if s["optimizer"] == "adamw" and np.any(self.l2 > 0) else None
        for index, (param, grad) in enumerate(zip(params, grads)):
            if decay is not None:
                param *= _scale(decay, param)
            if self.velocity[index] is None:
                self.velocity[index] = (np.zeros_like(param), np.zeros_like(param))
            mean, denominator = adam_moments(self.velocity[index], grad, beta1, beta2, root2)
            param -= _scale(step, param) * mean / denominator


def _scale(column: np.ndarray, like: np.ndarray) -> np.ndarray:
    """A per-network (R, 1, 1) column shaped to broadcast against `like` ((R, out, in) or (R, out))."""
    return column if like.ndim == 3 else column[:, :, 0]


def batch_loss(loss: str, p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each network's mean loss (R,) and its gradient with respect to the outputs p (R, B, out)."""
    count = p[0].size
    if loss in ("mse", "half_mse"):
        diff = p - t
        scale = 1.0 if loss == "mse" else 0.5
        sums = (diff * diff).reshape(len(p), -1).sum(axis=1).astype(np.float64)
        return scale * sums / count, (2 * scale / count) * diff
    if loss == "binary_cross_entropy":
        values = np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))
        return values.reshape(len(p), -1).mean(axis=1), (1 / (1 + np.exp(-p)) - t) / count
    shifted = p - p.max(axis=2, keepdims=True)  # cross-entropy: t holds class ids (R, B)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    nets, rows = np.indices(t.shape)
    grad = np.exp(log_probs)
    grad[nets, rows, t] -= 1
    return -log_probs[nets, rows, t].mean(axis=1), grad / t.shape[1]
