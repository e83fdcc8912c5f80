"""What the sequence views cost a live page: the Train page's predictions table (once a second) and
the Inspect page's attention map (every 2 s while training), next to the 2-D decision boundary the
Train page redraws 5 times a second (the baseline, measured in the same run).

    .venv/bin/python bench/sequence_views.py           # ~1 min on 2 vCPUs (trains two small models first)
    .venv/bin/python bench/sequence_views.py --quick   # fewer repeats: a smoke test
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.timing import describe_machine, parse_args, print_table  # noqa: E402
from dlbuilder.figures.sequences import attention_figure  # noqa: E402
from dlbuilder.inspection.attention import attention_maps  # noqa: E402
from dlbuilder.inspection.sequence_predictions import example_inputs  # noqa: E402
from dlbuilder.inspection.sequence_steps import attention_steps, written_tokens  # noqa: E402
from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.training.trainer import Trainer  # noqa: E402
from dlbuilder.views import model_views, sequence_predictions_view  # noqa: E402

LIVE_SEQUENCES = 4  # as dlbuilder/ui/live.py draws them


def trained(preset: str, epochs: int, samples: int | None = None):
    """(setup, data params) of a short run of `preset`."""
    document = PRESETS[preset].load()
    document.training.update(epochs=epochs, device="cpu")
    if samples:
        document.data.params["num_samples"] = samples
    trainer = Trainer(document)
    while trainer.step():
        pass
    return trainer.setup, document.data.params


def milliseconds(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def attention_view(setup):
    bundle = setup.bundle
    example = example_inputs(bundle, 0)
    written = written_tokens(bundle.info, bundle.y_test[0].numpy())
    figures = []
    for found in attention_maps(setup.model, example):
        query, key = attention_steps(setup.model, bundle.info, example, found, written)
        figures.append(attention_figure(found.weights, query.tokens, key.tokens, query.padding, key.padding))
    return figures


def main() -> None:
    args = parse_args(__doc__)
    repeats = 5 if args.quick else 30
    print(describe_machine("cpu"))
    playground, params = trained("playground", 2)
    tagger, _ = trained("transformer_tagger", 2)
    dates, _ = trained("seq2seq", 1, samples=2000)
    baseline = milliseconds(lambda: model_views(playground.model, playground.bundle, params, playground.loss,
                                                playground.problem), repeats)
    rows = [["decision boundary (playground, baseline, 5 per s)", f"{baseline:.1f}", "1.00"]]
    for name, setup in (("transformer tagger", tagger), ("seq2seq dates, greedy decoding", dates)):
        table = milliseconds(lambda: sequence_predictions_view(setup.model, setup.bundle, setup.loss,
                                                               LIVE_SEQUENCES), repeats)
        rows.append([f"predictions table, {LIVE_SEQUENCES} test sequences ({name}, 1 per s)", f"{table:.1f}",
                     f"{table / baseline:.2f}"])
        maps = milliseconds(lambda: attention_view(setup), repeats)
        rows.append([f"attention maps of one example ({name}, 1 per 2 s)", f"{maps:.1f}", f"{maps / baseline:.2f}"])
    print(f"\nms per call, median of {repeats}, one CPU thread")
    print_table(["view", "ms", "ratio to baseline"], rows)


if __name__ == "__main__":
    main()
