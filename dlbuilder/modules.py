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


class MaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d (same arguments, state_dict and print) with a faster CPU path for inference.

    PyTorch's CPU max-pool kernel is slow on small images (8x8 digits: 40-60% of a CNN's forward).
    For 2x2 windows with stride 2 and no padding, the maximum of strided views gives the same values
    4-14x faster on a batch of 512 digits (1.5-2.5x from ~10k values; slower below ~8k). It is used only
    where autograd records nothing (evaluation, loss landscapes): its backward is 2-2.5x slower than
    nn.MaxPool2d's, so training keeps nn.MaxPool2d's path and gradients (a tied window gives its whole
    gradient to one element; the element-wise form would split it). Not on the GPU (one kernel there
    already), nor while tracing or compiling (an ONNX export keeps one MaxPool node).
    """

    fast_min_values = 8192  # below ~this many input values nn.MaxPool2d's single kernel is as fast

    def forward(self, x):
        return self.max_of_pairs(x) if self._takes_fast_path(x) else super().forward(x)

    @staticmethod
    def max_of_pairs(x):
        """2x2 windows, stride 2: (..., H, W) -> (..., H // 2, W // 2), as element-wise maxima."""
        height, width = x.shape[-2] // 2, x.shape[-1] // 2
        x = x[..., :2 * height, :2 * width]  # an odd last row / column is dropped, as nn.MaxPool2d does
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])  # (..., H/2, W): pairs of rows
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])  # pairs of columns; a NaN wins, as there

    def _takes_fast_path(self, x):
        if ((torch.is_grad_enabled() and x.requires_grad) or x.device.type != "cpu"  # training: exit early
                or torch.jit.is_tracing() or torch.compiler.is_compiling()):
            return False
        plain = (self.kernel_size in (2, (2, 2)) and self.stride in (2, (2, 2)) and self.dilation in (1, (1, 1))
                 and self.padding in (0, (0, 0)) and not self.ceil_mode and not self.return_indices)
        return (plain and x.dim() in (3, 4) and x.is_floating_point() and min(x.shape[-2:]) >= 2
                and x.numel() >= self.fast_min_values)


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
    """nn.RNN / nn.LSTM / nn.GRU over (B, T, F), returning all steps (B, T, H*D) or the last (B, H*D).

    Given the token ids the sequence was made from (B, T), padding (id 0) is skipped: each row's
    real steps are moved to the front and packed, so neither direction reads a padded step and
    the last state is the last real step's. Outputs at padded steps are 0. ONNX export keeps it
    (tests/test_export.py compares the exported taggers and seq2seq with PyTorch's outputs).
    """

    PAD_ID = 0

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bidirectional=False,
                 return_sequences=True, nonlinearity="tanh"):
        super().__init__()
        kinds = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        self.rnn = kinds[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                               bidirectional=bidirectional, **extra)
        self.return_sequences = return_sequences
        self.directions = 2 if bidirectional else 1

    def forward(self, x, tokens=None):
        outputs, state = self.steps(x, tokens)
        return outputs if self.return_sequences else self._last(state)

    def steps(self, x, tokens=None):
        """(every step's top-layer output (B, T, H*D), the final state), whatever return_sequences says."""
        if tokens is None:
            return self.rnn(x)
        real = tokens != self.PAD_ID  # (B, T); real steps are one block, padding before or after it
        steps = x.shape[1]
        lengths = real.sum(dim=1).clamp_min(1)  # an all-padding row is read as its first step
        start = real.int().argmax(dim=1)  # (B,) first real step
        order = (torch.arange(steps, device=x.device) + start.unsqueeze(1)) % steps  # real steps first
        x = x.gather(1, order.unsqueeze(-1).expand_as(x))
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, state = self.rnn(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=steps)
        back = (torch.arange(steps, device=x.device) - start.unsqueeze(1)) % steps  # each step to its place
        return outputs.gather(1, back.unsqueeze(-1).expand(-1, -1, outputs.shape[-1])), state

    def _last(self, state):
        hidden = state[0] if isinstance(state, tuple) else state  # (layers*D, B, H)
        last = hidden[-self.directions:]  # the top layer, each direction
        return torch.cat(list(last), dim=-1)  # (B, H*D)

    def extra_repr(self):
        return f"return_sequences={self.return_sequences}"


class PositionalEncoding(nn.Module):
    """Add where each step is to (B, T, F): fixed sines and cosines (Vaswani et al. 2017) or a learned table."""

    def __init__(self, kind, max_length, features):
        super().__init__()
        self.kind = kind
        self.max_length = max_length
        if kind == "learned":
            self.table = nn.Parameter(0.02 * torch.randn(max_length, features))  # one vector per position

    @staticmethod
    def sinusoids(steps, features, device=None):
        """(T, F): column 2i is sin(t / 10000^(2i/F)), column 2i+1 the cos of the same angle."""
        position = torch.arange(steps, dtype=torch.float32, device=device).unsqueeze(1)  # (T, 1)
        pair = torch.arange(0, features, 2, dtype=torch.float32, device=device)  # 2i
        angles = position * torch.pow(10000.0, -pair / features)  # (T, ceil(F/2))
        return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(steps, -1)[:, :features]

    def forward(self, x):
        steps = x.shape[1]
        if steps > self.max_length:
            raise ValueError(f"sequence of {steps} steps is longer than max_length={self.max_length}")
        if self.kind == "learned":
            return x + self.table[:steps]
        return x + self.sinusoids(steps, x.shape[2], x.device).to(x.dtype)

    def extra_repr(self):
        return f"kind={self.kind!r}, max_length={self.max_length}"


class SelfAttention(nn.Module):
    """Multi-head self-attention over (B, T, D); keeps its weights (B, heads, T, T) when asked.

    Given the token ids the sequence was made from (B, T), no step looks at a padding step (id 0).
    """

    PAD_ID = 0

    def __init__(self, embed_dim, num_heads=1, causal=False):
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True)
        self.causal = causal
        self.keep_weights = False
        self.last_weights = None

    def forward(self, x, tokens=None):
        steps = x.shape[1]
        blocked = None  # True where a query step (row) may not look at a key step (column)
        if self.causal:
            blocked = torch.ones(steps, steps, dtype=torch.bool, device=x.device).triu(1)  # (T, T)
        if tokens is not None:
            padded = (tokens == self.PAD_ID).unsqueeze(1)  # (B, 1, T): padding keys
            blocked = padded if blocked is None else blocked | padded  # (B, T, T)
            # Every step may see itself, so a padding step's row is never empty (an empty softmax is NaN);
            # a real step's own key is real, so this changes only rows of padding steps.
            position = torch.arange(steps, device=x.device)
            blocked = blocked & (position.unsqueeze(1) != position)  # (an eye, as ONNX runtimes take it)
            heads = self.attention.num_heads
            blocked = blocked.unsqueeze(1).expand(-1, heads, -1, -1).reshape(-1, steps, steps)  # (B*heads, T, T)
        out, weights = self.attention(x, x, x, attn_mask=blocked, need_weights=self.keep_weights,
                                      average_attn_weights=False)
        self.last_weights = weights.detach() if self.keep_weights else None
        return out


class CrossAttention(nn.Module):
    """Queries (B, T, D) attend over a memory (B, S, M); keeps weights (B, heads, T, S) when asked.

    Given the token ids the memory was made from (B, S), no query looks at a padding step (id 0).
    """

    PAD_ID = 0

    def __init__(self, embed_dim, memory_dim, num_heads=1):
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, batch_first=True,
                                               kdim=memory_dim, vdim=memory_dim)
        self.keep_weights = False
        self.last_weights = None

    def forward(self, query, memory, memory_tokens=None):
        padded = None
        if memory_tokens is not None:
            padded = memory_tokens == self.PAD_ID  # (B, S)
            # A memory of nothing but padding is read whole: blocking every key would give NaN.
            padded = padded & ~padded.all(dim=1, keepdim=True)
        out, weights = self.attention(query, memory, memory, key_padding_mask=padded,
                                      need_weights=self.keep_weights, average_attn_weights=False)
        self.last_weights = weights.detach() if self.keep_weights else None
        return out
