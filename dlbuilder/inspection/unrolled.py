"""A recurrent node run one step at a time with its own weights, so every h_t is a tensor of its own.

PyTorch's nn.RNN/LSTM/GRU run the whole sequence in one fused call: the loss's gradient with
respect to the hidden state at step t (through all later steps) cannot be read from it. The
unrolled forward computes the same numbers with PyTorch's cell equations (see the nn.RNN,
nn.LSTM and nn.GRU docs) and hands back each h_t of the top layer.
"""

from __future__ import annotations

import torch
from torch import nn

from dlbuilder.modules import Recurrent

Weights = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]  # W_ih, W_hh, b_ih, b_hh


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return x @ weight.T + (bias if bias is not None else 0)


def _rnn_step(rnn: nn.RNN, x, h, c, weights: Weights):
    w_ih, w_hh, b_ih, b_hh = weights
    pre = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    return (torch.tanh(pre) if rnn.nonlinearity == "tanh" else torch.relu(pre)), c


def _lstm_step(rnn: nn.LSTM, x, h, c, weights: Weights):
    w_ih, w_hh, b_ih, b_hh = weights
    i, f, g, o = (_affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _gru_step(rnn: nn.GRU, x, h, c, weights: Weights):
    w_ih, w_hh, b_ih, b_hh = weights
    xr, xz, xn = _affine(x, w_ih, b_ih).chunk(3, dim=-1)
    hr, hz, hn = _affine(h, w_hh, b_hh).chunk(3, dim=-1)
    reset, update = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
    new = torch.tanh(xn + reset * hn)
    return (1 - update) * new + update * h, c


STEPS = {nn.RNN: _rnn_step, nn.LSTM: _lstm_step, nn.GRU: _gru_step}


def _direction(rnn: nn.RNNBase, x: torch.Tensor, layer: int, reverse: bool) -> list[torch.Tensor]:
    """h_t for t = 0..T-1 of one layer and direction; x is (B, T, F)."""
    suffix = f"_l{layer}" + ("_reverse" if reverse else "")
    weights = tuple(getattr(rnn, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    step = STEPS[type(rnn)]
    h = x.new_zeros(x.shape[0], rnn.hidden_size)
    c = torch.zeros_like(h)
    states: list[torch.Tensor] = [h] * x.shape[1]
    order = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in order:
        h, c = step(rnn, x[:, t], h, c, weights)
        states[t] = h
    return states


def unrolled_recurrent(module: Recurrent, x: torch.Tensor) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
    """The node's output for x (B, T, F), computed step by step, and the top layer's h_t per direction."""
    rnn = module.rnn
    directions = 2 if rnn.bidirectional else 1
    layer_input, top = x, []
    for layer in range(rnn.num_layers):
        top = [_direction(rnn, layer_input, layer, reverse=bool(d)) for d in range(directions)]
        layer_input = torch.cat([torch.stack(states, dim=1) for states in top], dim=-1)  # (B, T, H*D)
        # nn.RNN's dropout between layers is off in eval mode, where probes run
    if module.return_sequences:
        return layer_input, top
    last = [top[0][-1]] + ([top[1][0]] if directions == 2 else [])  # each direction's final state
    return torch.cat(last, dim=-1), top
