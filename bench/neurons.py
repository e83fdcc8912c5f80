"""Cost of one redraw of the live neuron view (Playground's per-neuron maps) on one CPU thread.

For the live-loop workloads (2-4-2-1 on 2 features; 6 hidden layers of 8 on all 7 features) it
times the probe (one captured forward over the grid), the figure build, and the JSON Streamlit
sends (plotly.io.to_json, as st.plotly_chart does), with and without a selected unit, and prints
milliseconds (median of repeats), the payload size, and the share of one CPU second a redraw
once a second takes.

Run from the repo root: .venv/bin/python bench/neurons.py [--resolution 40] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import plotly.io as pio
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.live_loop import WORKLOADS, workload  # noqa: E402
from dlbuilder.compile import compile_graph  # noqa: E402
from dlbuilder.datasets import DATASETS  # noqa: E402
from dlbuilder.figures.neurons import neuron_figure  # noqa: E402
from dlbuilder.inspection.neurons import neuron_maps, unit_choices  # noqa: E402


def median_ms(action, repeats: int) -> float:
    action()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'workload':18} {'maps':>5} {'probe ms':>9} {'figure ms':>10} {'json ms':>8} {'KB':>6} "
          f"{'selected: fig+json ms':>22} {'CPU share at 1/s':>17}")
    for name, (query, _) in WORKLOADS.items():
        document = workload(query)
        model = compile_graph(document)
        bundle = DATASETS[document.data.name].load(document.data.params, document.seed)
        probe = lambda: neuron_maps(model, bundle, document.data.params, args.resolution)  # noqa: E731
        neurons = probe()
        last = list(unit_choices(neurons).values())[-2]
        probe_ms = median_ms(probe, args.repeats)
        figure_ms = median_ms(lambda: neuron_figure(neurons), args.repeats)
        figure = neuron_figure(neurons)
        json_ms = median_ms(lambda: pio.to_json(figure, validate=False), args.repeats)
        size = len(pio.to_json(figure, validate=False)) / 1024
        selected_ms = median_ms(lambda: pio.to_json(neuron_figure(neurons, last), validate=False), args.repeats)
        maps = sum(len(layer.labels) for layer in neurons.layers)
        total = probe_ms + figure_ms + json_ms
        print(f"{name:18} {maps:5d} {probe_ms:9.2f} {figure_ms:10.2f} {json_ms:8.2f} {size:6.0f} "
              f"{selected_ms:22.2f} {total / 1000:17.1%}")


if __name__ == "__main__":
    main()
