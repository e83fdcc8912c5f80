"""`python -m dlbuilder train FILE`: train with a progress bar, write metrics, checkpoint, summary."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from dlbuilder.datasets.base import DatasetError
from dlbuilder.training.checkpoint import save_checkpoint
from dlbuilder.training.device import set_worker_threads
from dlbuilder.training.metrics import EpochRecord
from dlbuilder.training.setup import TrainingError
from dlbuilder.training.trainer import Diverged, Trainer
from dlbuilder.validation import InvalidNetwork

BAR_WIDTH = 30
REDRAW_SECONDS = 0.1


def add_train_command(commands) -> None:
    train = commands.add_parser("train", help="train a document; writes metrics.csv, checkpoint, summary")
    train.add_argument("file", help="a document JSON file or a preset name")
    train.add_argument("--epochs", type=int, help="override the document's epochs")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="override the device")
    train.add_argument("--out", default="runs/latest", help="output folder (default runs/latest)")
    train.set_defaults(run=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from dlbuilder.cli import CommandError, read_document

    document = read_document(args.file)
    if args.epochs is not None:
        if not 1 <= args.epochs <= 100_000:
            raise CommandError("--epochs must be from 1 to 100000")
        document.training["epochs"] = args.epochs
    set_worker_threads()
    try:
        trainer = Trainer(document, device=args.device)
    except InvalidNetwork as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    except (TrainingError, DatasetError) as error:
        raise CommandError(str(error)) from None
    status, message = run_with_progress(trainer)
    out = Path(args.out)
    summary = {"status": status, "message": message, "epochs": trainer.epoch, "updates": trainer.step_count,
               **trainer.test_results(), "info": trainer.setup.info}
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_metrics_csv(out / "metrics.csv", trainer.metrics.epochs())
        save_checkpoint(out / "checkpoint.safetensors", document, trainer.setup.model)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as error:
        raise CommandError(f"cannot write the results to {out}: {error.strerror or error}") from None
    print(f"{status}: {message}\nwrote {out}/metrics.csv, checkpoint.safetensors, summary.json")
    return 0 if status in ("finished", "early_stopped") else 1


def run_with_progress(trainer: Trainer) -> tuple[str, str]:
    total = trainer.settings["epochs"]
    shown, drawn_at = -1, 0.0
    try:
        while trainer.step():
            if trainer.epoch != shown and time.monotonic() - drawn_at > REDRAW_SECONDS:
                shown, drawn_at = trainer.epoch, time.monotonic()
                draw_bar(trainer, total)
    except Diverged as error:
        print(file=sys.stderr)
        return "diverged", str(error)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return "stopped", f"stopped by the user at epoch {trainer.epoch}"
    draw_bar(trainer, total)
    print(file=sys.stderr)
    status = "early_stopped" if trainer.stopping and trainer.stopping.stopped_epoch else "finished"
    return status, trainer.stop_reason


def draw_bar(trainer: Trainer, total: int) -> None:
    done = int(BAR_WIDTH * trainer.epoch / total)
    epochs = trainer.metrics.epochs()
    loss = f" loss {epochs[-1].train_loss:.4f}" if epochs else ""
    val = f" val {epochs[-1].val_loss:.4f}" if epochs and epochs[-1].val_loss is not None else ""
    print(f"\r[{'#' * done}{'.' * (BAR_WIDTH - done)}] epoch {trainer.epoch}/{total}{loss}{val}",
          end="", file=sys.stderr, flush=True)


def write_metrics_csv(path: Path, epochs: list[EpochRecord]) -> None:
    columns = ["epoch", "step", "train_loss", "val_loss", "test_loss", "train_metric", "val_metric",
               "test_metric", "learning_rate", "examples_per_second", "seconds"]
    sequences = ["train_sequence_metric", "val_sequence_metric", "test_sequence_metric", "decoded_sequence_metric"]
    # per-step targets (tagging, seq2seq) add their exact-match columns; other runs keep the same file
    columns += [c for c in sequences if any(getattr(record, c) is not None for record in epochs)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for record in epochs:
            writer.writerow([getattr(record, c) if getattr(record, c) is not None else "" for c in columns])
