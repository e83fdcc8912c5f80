"""Padding masks and sequence probes: what the mask costs a training step, what each probe costs,
and how much gradient reaches the first step of a plain RNN, an LSTM and a GRU.

    .venv/bin/python bench/sequence_probes.py           # ~1 min on 2 vCPUs
    .venv/bin/python bench/sequence_probes.py --quick   # one round, fewer steps: a smoke test
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import Stopwatch, describe_machine, parse_args, print_table, run_rounds  # noqa: E402
from dlbuilder.compile import compile_graph  # noqa: E402
from dlbuilder.document import load_document  # noqa: E402
from dlbuilder.inspection.attention import (attention_maps, embedding_projection, hidden_states,  # noqa: E402
                                            timestep_gradient_norms)
from tests.networks import document_dict  # noqa: E402

VOCAB, STEPS, DIM, HEADS, BATCH = 1000, 64, 64, 4, 32


def transformer(mask: bool):
    nodes = [{"id": "tokens", "type": "input", "params": {"shape": [STEPS], "dtype": "tokens", "vocab_size": VOCAB}},
             {"id": "embed", "type": "embedding", "params": {"dim": DIM}},
             {"id": "position", "type": "positional_encoding", "params": {}},
             {"id": "attention", "type": "self_attention", "params": {"num_heads": HEADS}},
             {"id": "residual", "type": "add"}, {"id": "norm", "type": "layernorm"},
             {"id": "output", "type": "output", "params": {"task": "classification", "units": 8}}]
    edges = [("tokens", "embed", 0), ("embed", "position", 0), ("position", "attention", 0),
             ("position", "residual", 0), ("attention", "residual", 1), ("residual", "norm", 0),
             ("norm", "output", 0)] + ([("tokens", "attention", 1)] if mask else [])
    return load_document(document_dict(nodes, edges))


def recurrent(cell: str, steps: int, hidden: int):
    nodes = [{"id": "input", "type": "input", "params": {"shape": [steps, 4]}},
             {"id": "rnn", "type": cell, "params": {"hidden_size": hidden, "return_sequences": False}},
             {"id": "output", "type": "output", "params": {"task": "regression", "units": 1}}]
    return load_document(document_dict(nodes, [("input", "rnn", 0), ("rnn", "output", 0)]))


def training_rate(mask: bool, steps: int, device: str):
    torch.manual_seed(0)
    model = compile_graph(transformer(mask), device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    lengths = torch.randint(STEPS // 2, STEPS + 1, (BATCH, 1))
    tokens = torch.randint(1, VOCAB, (BATCH, STEPS)) * (torch.arange(STEPS) < lengths)
    tokens, targets = tokens.to(device), (tokens % 8).to(device)

    def measure():
        clock = Stopwatch(device)
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(model(tokens).flatten(0, 1), targets.flatten()).backward()
            optimizer.step()
        return clock.rate(steps)
    measure()  # warm-up
    return measure


def milliseconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def main() -> None:
    args = parse_args(__doc__)
    repeats, steps = (1, 5) if args.quick else (3, 30)
    print(describe_machine(args.device))
    print(f"\nTraining steps/s, transformer block T={STEPS}, F={DIM}, {HEADS} heads, batch {BATCH} (median of "
          f"{repeats}; wall [per CPU-second])")
    rates = run_rounds({name: training_rate(name == "with mask", steps, args.device)
                        for name in ("no mask", "with mask")}, repeats)
    print_table(["variant", "steps/s", "ratio to no mask"],
                [[name, f"{r.wall:.1f} [{r.cpu:.1f}]", f"{r.wall / rates['no mask'].wall:.2f}"]
                 for name, r in rates.items()])

    torch.manual_seed(0)
    model = compile_graph(transformer(True), args.device)
    example = torch.randint(1, VOCAB, (STEPS,)) * (torch.arange(STEPS) < 40)
    lstm = compile_graph(recurrent("lstm", 100, 64), args.device)
    inputs, targets = torch.randn(BATCH, 100, 4), torch.zeros(BATCH, 1)
    print("\nProbe cost, ms (median)")
    print_table(["probe", "ms"], [
        ["attention_maps (T=64, 4 heads)", f"{milliseconds(lambda: attention_maps(model, example), repeats):.1f}"],
        ["hidden_states (LSTM T=100, H=64)", f"{milliseconds(lambda: hidden_states(lstm, inputs[0], 'rnn'), repeats):.1f}"],
        ["timestep_gradient_norms (LSTM, batch 32)",
         f"{milliseconds(lambda: timestep_gradient_norms(lstm, inputs, targets, 'mse', 'rnn'), repeats):.1f}"],
        ["embedding_projection (500 words, dim 64)",
         f"{milliseconds(lambda: embedding_projection(model, 'embed', list(range(500))), repeats):.1f}"]])

    print("\nGradient reaching step 0 / step T-1 at PyTorch's default init (T=50, hidden 32, batch 32, "
          "loss on the last step; median of 5 seeds)")
    rows = []
    for cell in ("rnn", "lstm", "gru"):
        ratios = []
        for seed in range(5):
            torch.manual_seed(seed)
            net = compile_graph(recurrent(cell, 50, 32), args.device)
            norms = timestep_gradient_norms(net, torch.randn(BATCH, 50, 4), torch.randn(BATCH, 1), "mse", "rnn")
            ratios.append(norms[0] / norms[-1])
        rows.append([cell, f"{statistics.median(ratios):.2e}"])
    print_table(["cell", "|dL/dh_0| / |dL/dh_49|"], rows)


if __name__ == "__main__":
    main()
