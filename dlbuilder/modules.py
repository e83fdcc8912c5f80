"""Small nn.Modules the layers need beyond torch.nn.

This file imports only torch on purpose: the code exporter copies these classes verbatim
into the standalone PyTorch source it writes, so compiled and exported models share them.
"""

import torch
from torch import nn


class Reshape(nn.Module):
    """Reshape each example to `shape` (the batch dimension is kept)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class GlobalAvgPool(nn.Module):
    """Average over positions: (B, C, H, W) -> (B, C), or over time: (B, T, F) -> (B, F)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.mean(dim=self.dims)


class Add(nn.Module):
    """Element-wise sum of inputs of equal shape (a residual / skip connection)."""

    def forward(self, *xs):
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        return total


class Concat(nn.Module):
    """Join inputs along the feature (vectors, sequences) or channel (images) dimension."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Recurrent(nn.Module):
    """nn.RNN / nn.LSTM / nn.GRU over (B, T, F), returning all steps (B, T, H*D) or the last (B, H*D)."""

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bidirectional=False,
                 return_sequences=True, nonlinearity="tanh"):
        super().__init__()
        kinds = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = kinds[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, **extra)
        self.return_sequences = return_sequences
        self.directions = 2 if bidirectional else 1

    def forward(self, x):
        outputs, state = self.rnn(x)  # outputs (B, T, H*D)
        if self.return_sequences:
            return outputs
        hidden = state[0] if isinstance(state, tuple) else state  # (layers*D, B, H)
        last = hidden[-self.directions:]  # the top layer, each direction
        return torch.cat(list(last), dim=-1)  # (B, H*D)

    def extra_repr(self):
        return f"return_sequences={self.return_sequences}"


class SelfAttention(nn.Module):
    """Multi-head self-attention over (B, T, D); keeps its weights (B, heads, T, T) when asked."""

    def __init__(self, embed_dim, num_heads=1, causal=False):
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.causal = causal
        self.keep_weights = False
        self.last_weights = None

    def forward(self, x):
        mask = None
        if self.causal:
            steps = x.shape[1]
            mask = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1)
        out, weights = self.attention(x, x, x, attn_mask=mask, need_weights=self.keep_weights,
                                      average_attn_weights=False)
        self.last_weights = weights.detach() if self.keep_weights else None
        return out


class CrossAttention(nn.Module):
    """Queries (B, T, D) attend over a memory (B, S, M); keeps weights (B, heads, T, S) when asked."""

    def __init__(self, embed_dim, memory_dim, num_heads=1):
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True,
                                               kdim=memory_dim, vdim=memory_dim)
        self.keep_weights = False
        self.last_weights = None

    def forward(self, query, memory):
        out, weights = self.attention(query, memory, memory, need_weights=self.keep_weights,
                                      average_attn_weights=False)
        self.last_weights = weights.detach() if self.keep_weights else None
        return out
