"""A NumPy fast path for the nets TensorFlow Playground trains: plain Dense chains, SGD or Adam.

For a 2-4-2-1 net at batch 10 one PyTorch eager update costs ~500 µs, almost all framework
overhead; the same forward, backward and update written with NumPy arrays costs ~45 µs
(measured: 865 vs 80 epochs/s on Playground's spiral). The trainer uses this path only when
every piece is one it implements exactly (see `build`), keeps the torch model as the source
for evaluation, probes and export, and writes the weights back at each epoch end and
whenever the trainer flushes (pause, stop, a page asking for the weights).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dlbuilder.document import Document

ACTIVATIONS = {"identity", "relu", "tanh", "sigmoid", "leaky_relu"}
OPTIMIZERS = {"sgd", "momentum", "nesterov", "adam", "adamw"}
LOSSES = {"mse", "half_mse", "binary_cross_entropy", "cross_entropy"}


def _chain(document: Document) -> list[str] | None:
    """Node ids input -> dense... -> output if the network is exactly such a chain, else None."""
    if len(document.edges) != len(document.nodes) - 1:
        return None
    following = {e.source: e.target for e in document.edges}
    start = [n.id for n in document.nodes if n.type == "input"]
    if len(start) != 1 or len(following) != len(document.edges):
        return None
    order = [start[0]]
    while order[-1] in following:
        order.append(following[order[-1]])
    types = [document.node(i).type for i in order]
    if len(order) != len(document.nodes) or types[-1] != "output" or set(types[1:-1]) - {"dense"}:
        return None
    return order


def likely(document: Document) -> bool:
    """Whether a CPU run of this document will probably take the fast path (a cost estimate's guess:
    `build` decides, with the data and the model at hand)."""
    return _chain(document) is not None and document.training["optimizer"] in OPTIMIZERS


def build(document: Document, setup) -> "NumpyChain | None":
    """A NumpyChain for this run, or None when any part needs the general PyTorch path."""
    settings = setup.settings
    if (setup.device.type != "cpu" or setup.mixed_precision or settings["optimizer"] not in OPTIMIZERS
            or setup.loss not in LOSSES or setup.problem == "reconstruction"):
        return None
    order = _chain(document)
    train = setup.splits["train"]
    # one float input of vectors and one target per example (token ids and per-step tags need torch)
    if order is None or train.x.dim() != 2 or not train.x.is_floating_point() or train.more_x \
            or (setup.problem == "classification" and train.y.dim() != 1):
        return None
    layers = []
    for node_id in order[1:]:
        node = document.node(node_id)
        activation = node.params.get("activation", "identity")
        module = setup.model.get_submodule(node_id)
        linear = module if isinstance(module, nn.Linear) else module[0]
        if activation not in ACTIVATIONS or not isinstance(linear, nn.Linear) or linear.bias is None:
            return None
        layers.append((linear, activation))
    return NumpyChain(layers, setup)



LEAKY_SLOPE = 0.01  # LeakyReLU's, as in the layer registry


def activate(z: np.ndarray, name: str) -> np.ndarray:
    """An activation by its registry name, in NumPy (shared with the sweeps' batched chains)."""
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_SLOPE * z)
    return z


def activation_slope(a: np.ndarray, name: str):
    """d activation / d input, from the activation's output."""
    if name == "tanh":
        return 1 - a * a
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "sigmoid":
        return a * (1 - a)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, LEAKY_SLOPE).astype(a.dtype)
    return 1.0

class NumpyChain:
    """Weights as float32 arrays; `update` is one SGD step on a batch; `write_back` syncs torch."""

    def __init__(self, layers: list[tuple[nn.Linear, str]], setup):
        self.linears = [linear for linear, _ in layers]
        self.activations = [activation for _, activation in layers]
        self.weights = [linear.weight.detach().numpy().copy() for linear in self.linears]  # (out, in)
        self.biases = [linear.bias.detach().numpy().copy() for linear in self.linears]
        self.velocity = [None] * (2 * len(self.linears))  # momentum buffers, or Adam's (mean, square)
        self.adam_steps = 0
        self.last_grads: list[np.ndarray] | None = None
        self.setup = setup
        self.settings = setup.settings
        self.loss = setup.loss
        train = setup.splits["train"]
        self.x, self.t = train.x.numpy(), train.t.numpy()

    def batch(self, order: np.ndarray) -> None:
        """Shuffle the training set for an epoch (the same order the torch path would use)."""
        self.epoch_x, self.epoch_t = self.x[order], self.t[order]

    def update(self, start: int, end: int) -> float:
        """Forward, backward and an optimizer step on rows [start, end) of this epoch's order; the loss."""
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run shows up as a NaN loss
            return self._update(start, end)

    def _update(self, start: int, end: int) -> float:
        x, t = self.epoch_x[start:end], self.epoch_t[start:end]
        outputs = [x]
        for weight, bias, activation in zip(self.weights, self.biases, self.activations):
            outputs.append(activate(outputs[-1] @ weight.T + bias, activation))
        loss, grad = self._loss(outputs[-1], t)
        grads = []
        for index in range(len(self.weights) - 1, -1, -1):
            if self.activations[index] != "identity":
                grad = grad * activation_slope(outputs[index + 1], self.activations[index])
            grads.append(grad.T @ outputs[index])  # (out, in), like the weight
            grads.append(grad.sum(axis=0))
            if index:
                grad = grad @ self.weights[index]
        grads.reverse()  # [w0, b0, w1, b1, ...] after pairing below
        pairs = [(grads[2 * i + 1], grads[2 * i]) for i in range(len(self.weights))]
        # The per-layer gradient norms read these: as in torch's .grad, after the penalties and clipping
        self.last_grads = self._step([g for pair in pairs for g in pair])
        return loss

    def _loss(self, p: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean loss and its gradient with respect to the network's output."""
        if self.loss in ("mse", "half_mse"):
            diff = p - t
            flat = diff.ravel()
            scale = 1.0 if self.loss == "mse" else 0.5  # half_mse: Playground's (p - t)^2 / 2
            return scale * float(flat @ flat) / diff.size, (2 * scale / diff.size) * diff
        if self.loss == "binary_cross_entropy":
            loss = np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))))
            return float(loss), (1 / (1 + np.exp(-p)) - t) / p.size
        shifted = p - p.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(len(t))
        grad = np.exp(log_probs)
        grad[rows, t] -= 1
        return float(-log_probs[rows, t].mean()), grad / len(t)

    def _step(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """One optimizer step; returns the gradients it used (penalties added, clipped)."""
        s = self.settings
        params = [p for pair in zip(self.weights, self.biases) for p in pair]
        l2 = 0.0 if s["optimizer"] == "adamw" else s["l2"]
        for index in range(0, len(params), 2):  # penalties on weight matrices only
            if s["l1"] > 0:
                grads[index] = grads[index] + s["l1"] * np.sign(params[index])
            if l2 > 0:
                grads[index] = grads[index] + 2 * l2 * params[index]
        if s["grad_clip"] > 0:
            norm = float(np.sqrt(sum(float((g * g).sum()) for g in grads)))
            if norm > s["grad_clip"]:
                grads = [g * (s["grad_clip"] / (norm + 1e-6)) for g in grads]
        lr = self.setup.optimizer.param_groups[0]["lr"]  # schedules keep working
        if s["optimizer"] in ("adam", "adamw"):
            self._adam(params, grads, lr)
            return grads
        momentum = s["momentum"] if s["optimizer"] != "sgd" else 0.0
        for index, (param, grad) in enumerate(zip(params, grads)):
            if momentum:
                buffer = grad.copy() if self.velocity[index] is None else momentum * self.velocity[index] + grad
                self.velocity[index] = buffer
                grad = grad + momentum * buffer if s["optimizer"] == "nesterov" else buffer
            param -= lr * grad
        return grads

    def _adam(self, params: list[np.ndarray], grads: list[np.ndarray], lr: float) -> None:
        """torch.optim.Adam / AdamW, step for step (eps 1e-8, bias corrections, decoupled decay)."""
        s = self.settings
        beta1, beta2 = s["beta1"], s["beta2"]
        self.adam_steps += 1
        correction1 = 1 - beta1 ** self.adam_steps
        root2 = (1 - beta2 ** self.adam_steps) ** 0.5
        for index, (param, grad) in enumerate(zip(params, grads)):
            if s["optimizer"] == "adamw" and s["l2"] > 0:
                param *= 1 - lr * s["l2"]
            if self.velocity[index] is None:
                self.velocity[index] = (np.zeros_like(param), np.zeros_like(param))
            mean, denominator = adam_moments(self.velocity[index], grad, beta1, beta2, root2)
            param -= (lr / correction1) * mean / denominator

    def write_back(self) -> None:
        """Copy the NumPy weights into the torch model (before scoring, probes and checkpoints)."""
        grads = self.last_grads
        with torch.no_grad():
            for index, (linear, weight, bias) in enumerate(zip(self.linears, self.weights, self.biases)):
                linear.weight.copy_(torch.from_numpy(weight))
                linear.bias.copy_(torch.from_numpy(bias))
                if grads is not None:  # the latest update's gradients, as torch would leave them
                    linear.weight.grad = torch.from_numpy(np.array(grads[2 * index], dtype=np.float32))
                    linear.bias.grad = torch.from_numpy(np.array(grads[2 * index + 1], dtype=np.float32))


def adam_moments(moments: tuple[np.ndarray, np.ndarray], grad: np.ndarray, beta1: float, beta2: float,
                 root2: float) -> tuple[np.ndarray, np.ndarray]:
    """Update one parameter's Adam moments (mean, square) in place with `grad`; returns the mean and the
    step's denominator sqrt(square) / sqrt(1 - beta2^t) + eps, as torch.optim.Adam computes them."""
    mean, square = moments
    mean *= beta1
    mean += (1 - beta1) * grad
    square *= beta2
    square += (1 - beta2) * grad * grad
    return mean, np.sqrt(square) / root2 + 1e-8
