"""Speed of the loss landscape (filter-normalised random plane) on one CPU thread.

For the Playground default and networks up to ~20k parameters on digits, it times the
progressive grid (11x11, then 21x21, then 41x41, each level reusing the last) as the Inspect
page computes it: the time to the first (coarse) picture, and to the full 41x41 grid (wall clock,
and CPU seconds of this process: the wall figure grows when other processes compete). Then a
plain loop over the same 1,681 grid points (load the weights into the model, one forward each)
in the same run, and the ratio. The per-point cost of vmap and of the loop is printed too: the
probe measures both on its first call and keeps the faster. Targets (issue 9): first picture
within 1 s; 41x41 within 5 s for networks up to 20k parameters on digits. Prints, never asserts.

Run from the repo root: .venv/bin/python bench/landscape.py [--examples 512] [--quick]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils import vector_to_parameters

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlbuilder.document import load_document  # noqa: E402
from dlbuilder.inspection.grid import RESOLUTIONS  # noqa: E402
from dlbuilder.inspection.landscape import (  # noqa: E402
    evaluation_probe,
    flat_weights,
    random_directions,
    random_plane_surfaces,
)
from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.training.losses import compute_loss  # noqa: E402
from dlbuilder.training.setup import prepare  # noqa: E402


def digits_document(name: str, nodes: list[dict]) -> dict:
    """A chain of `nodes` from the digits input to a classification output."""
    chain = [{"id": "input", "type": "input"}] + nodes + [{"id": "output", "type": "output"}]
    edges = [{"source": a["id"], "target": b["id"], "slot": 0} for a, b in zip(chain, chain[1:])]
    document = copy.deepcopy(PRESETS["lenet"].document)
    document.update(name=name, network={"nodes": chain, "edges": edges})
    return document


def workloads() -> dict[str, object]:
    """Name -> document: Playground, a 19k MLP, LeNet (3k) and a wider 14k CNN on digits."""
    wide_cnn = [{"id": "conv1", "type": "conv2d", "params": {"out_channels": 16, "kernel_size": 3, "padding": "same"}},
                {"id": "pool1", "type": "maxpool2d"},
                {"id": "conv2", "type": "conv2d", "params": {"out_channels": 32, "kernel_size": 3, "padding": "same"}},
                {"id": "pool2", "type": "maxpool2d"}, {"id": "flatten", "type": "flatten"},
                {"id": "dense1", "type": "dense", "params": {"units": 64}}]
    return {"playground (circle)": PRESETS["playground"].load(),
            "mlp 64-256-10 (digits)": load_document(digits_document(
                "mlp", [{"id": "flatten", "type": "flatten"},
                        {"id": "dense1", "type": "dense", "params": {"units": 256}}])),
            "lenet (digits)": PRESETS["lenet"].load(),
            "wide cnn (digits)": load_document(digits_document("wide cnn", wide_cnn))}


def progressive(setup, examples: int) -> tuple[float, float, float, str]:
    """Seconds to the first level and to the last, CPU seconds of this process to the last, the method."""
    probe = evaluation_probe(setup, examples)  # a fresh probe: its first call includes the vmap trial
    start, cpu = time.perf_counter(), time.process_time()
    first = None
    for surface in random_plane_surfaces(probe):
        first = first or time.perf_counter() - start
    return first, time.perf_counter() - start, time.process_time() - cpu, probe.method


def plain_loop(setup, examples: int, points: int) -> float:
    """Seconds for the naive way: copy each grid point's weights into the model, one forward, the loss."""
    model, split = setup.model, setup.splits["train"]
    x, t = split.x[:examples], split.t[:examples]
    center, directions = flat_weights(model), random_directions(model)
    grid = np.linspace(-1, 1, RESOLUTIONS[-1])
    coefficients = np.array([(a, b) for b in grid for a in grid])[:points]
    saved = center.clone()
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for a, b in coefficients:
            vector_to_parameters(center + float(a) * directions[0] + float(b) * directions[1], model.parameters())
            compute_loss(setup.loss_fn, setup.loss, model(x), t)
    seconds = time.perf_counter() - start
    vector_to_parameters(saved, model.parameters())
    return seconds * len(grid) ** 2 / len(coefficients)  # per full grid


def per_point_ms(setup, examples: int, method: str, points: int = 64) -> float:
    """Milliseconds per grid point with the method forced."""
    probe = evaluation_probe(setup, examples)
    probe.method = method
    center, directions = flat_weights(setup.model), random_directions(setup.model)
    coefficients = np.random.default_rng(0).uniform(-1, 1, (points, 2))
    probe.combination(center, directions, coefficients[:4])  # warm up
    start = time.perf_counter()
    probe.combination(center, directions, coefficients)
    return (time.perf_counter() - start) / points * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=512, help="the fixed evaluation subset")
    parser.add_argument("--quick", action="store_true", help="time the plain loop on 200 points, not all")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"one CPU thread; evaluation subset {args.examples} examples; grid {' -> '.join(map(str, RESOLUTIONS))}")
    print(f"{'network':24} {'params':>7} {'first s':>8} {'41x41 s':>8} {'cpu s':>6} {'method':>7} "
          f"{'plain loop s':>13} {'ratio':>6} {'vmap ms/pt':>11} {'loop ms/pt':>11}")
    for name, document in workloads().items():
        setup = prepare(document, device="cpu")
        parameters = sum(p.numel() for p in setup.model.parameters())
        first, full, cpu, method = progressive(setup, args.examples)
        loop = plain_loop(setup, args.examples, 200 if args.quick else RESOLUTIONS[-1] ** 2)
        vmap_ms, loop_ms = (per_point_ms(setup, args.examples, m) for m in ("vmap", "loop"))
        print(f"{name:24} {parameters:>7,} {first:>8.2f} {full:>8.2f} {cpu:>6.2f} {method:>7} {loop:>13.2f} "
              f"{loop / full:>5.1f}x {vmap_ms:>11.2f} {loop_ms:>11.2f}", flush=True)


if __name__ == "__main__":
    main()
