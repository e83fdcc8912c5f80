"""Train each sequence preset on one CPU thread and report its accuracy on the test set and the time.

    .venv/bin/python bench/sequences.py                  # every preset, default epochs (~1 min on 1 thread)
    .venv/bin/python bench/sequences.py --quick          # 2 epochs each: a smoke test
    .venv/bin/python bench/sequences.py --preset seq2seq --epochs 20

Every figure is on the test split, except the last column: the first epoch whose validation score
(token accuracy; greedy exact match for seq2seq, on 256 validation dates) reaches 95%.
Targets (issue 10): the slot fillers >= 95% token accuracy on test sentences within 2 minutes;
the date translator >= 95% exact match (greedy decoding) within 5 minutes. Times are training
time including the engine's end-of-epoch scoring (and, for seq2seq, the per-epoch greedy decoding
of 256 validation dates), not the final scoring of the test split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dlbuilder.editing import set_training  # noqa: E402
from dlbuilder.presets import PRESETS  # noqa: E402
from dlbuilder.training.evaluation import predict  # noqa: E402
from dlbuilder.training.losses import predicted_classes  # noqa: E402
from dlbuilder.training.sequence_metrics import token_accuracy  # noqa: E402
from dlbuilder.training.trainer import Trainer  # noqa: E402

SEQUENCE_PRESETS = {  # name -> (target, budget in seconds)
    "lstm_slot_filler": ("token accuracy >= 95%", 120),
    "gru_tagger": ("token accuracy >= 95%", 120),
    "transformer_tagger": ("token accuracy >= 95%", 120),
    "parity_rnn": ("near chance (the point of the pair)", None),
    "parity_lstm": ("clearly above the RNN", None),
    "seq2seq": ("greedy exact match >= 95%", 300),
}


def unseen_city_accuracy(trainer: Trainer) -> float | None:
    """Token accuracy on the test sentences whose cities training never saw (slot_filling only)."""
    setup = trainer.setup
    unseen = setup.bundle.extras.get("test_unseen")
    if unseen is None or not bool(unseen.any()):
        return None
    test = setup.splits["test"]
    rows = unseen.to(test.x.device)
    prediction = predict(setup.model, test.x[rows], setup.autocast)
    return token_accuracy(predicted_classes(setup.loss, prediction), test.y[rows])


def run(name: str, epochs: int | None) -> dict:
    document = PRESETS[name].load()
    if epochs:
        document = set_training(document, {"epochs": epochs})
    trainer = Trainer(document, device="cpu")
    started = time.perf_counter()
    while trainer.step():
        pass
    seconds = time.perf_counter() - started
    results = trainer.test_results()
    results.update(name=name, epochs=trainer.epoch, seconds=seconds, unseen=unseen_city_accuracy(trainer))
    results["reached"] = first_reaching(name, trainer.metrics.epochs())
    return results


def first_reaching(name: str, records) -> str:
    """The first epoch (and seconds since the start) whose validation score meets the preset's target."""
    threshold = 0.95 if SEQUENCE_PRESETS[name][1] else None
    if threshold is None:
        return "-"
    for record in records:
        score = record.decoded_sequence_metric if name == "seq2seq" else record.val_metric
        if score is not None and score >= threshold:
            return f"epoch {record.epoch}, {record.seconds:.1f} s"
    return "not reached"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=tuple(SEQUENCE_PRESETS), action="append")
    parser.add_argument("--epochs", type=int, default=0, help="override the preset's epochs")
    parser.add_argument("--quick", action="store_true", help="2 epochs each (a smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; test-set figures\n")
    header = ("preset", "epochs", "train s", "token acc", "unseen-city acc", "exact (teacher)", "exact (greedy)",
              "target", "95% on validation at")
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for name in args.preset or SEQUENCE_PRESETS:
        result = run(name, 2 if args.quick else args.epochs)
        target, budget = SEQUENCE_PRESETS[name]
        over = f" (over the {budget} s budget)" if budget and result["seconds"] > budget else ""
        print(" | ".join((name, str(result["epochs"]), f"{result['seconds']:.1f}{over}", percent(result["test_metric"]),
                          percent(result["unseen"]), percent(result.get("test_sequence_metric")),
                          percent(result.get("test_decoded_metric")), target, result["reached"])), flush=True)


if __name__ == "__main__":
    main()
