"""Background jobs: controls, statuses for every ending, heartbeats, checkpoints, the train CLI."""

import json
import time

import pytest
import torch

from dlbuilder.cli import main
from dlbuilder.presets import PRESETS
from dlbuilder.training import trainer as trainer_module
from dlbuilder.training.checkpoint import CheckpointError, checkpoint_bytes, load_checkpoint, read_checkpoint
from dlbuilder.training.job import ThreadRunner
from dlbuilder.training.trainer import Trainer
from tests.networks import long_playground, wait_for


@pytest.fixture
def runner():
    runner = ThreadRunner(max_active=2)
    yield runner
    runner.shutdown()


def test_a_stopped_jobs_records_and_counters_agree(runner):
    # (pause, step once and resume are tested for every runner in test_runners.py)
    job = runner.submit(long_playground())
    assert wait_for(lambda: job.snapshot().step > 50)
    job.stop()
    assert job.wait(5)
    snapshot = job.snapshot()
    assert snapshot.status == "stopped" and "stopped by the user" in snapshot.message
    assert snapshot.steps[-1].step == snapshot.step
    assert snapshot.updates_per_epoch == 20 and snapshot.info["parameters"] == 25


def test_finished_job_reports_its_metrics(runner):
    document = PRESETS["playground"].load()
    document.training["epochs"] = 3
    job = runner.submit(document)
    assert job.wait(20)
    snapshot = job.snapshot()
    assert (snapshot.status, snapshot.epoch, len(snapshot.epochs)) == ("finished", 3, 3)
    assert snapshot.message == "finished 3 epochs"


def test_diverged_job_says_what_to_try(runner):
    document = PRESETS["playground"].load()
    document.training.update(learning_rate=10.0, loss="mse")
    job = runner.submit(document)
    assert job.wait(20)
    assert job.status == "diverged" and "learning rate" in job.message


def test_errors_in_the_worker_become_a_status(runner, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(trainer_module, "prepare", broken)
    job = runner.submit(PRESETS["playground"].load())
    assert job.wait(10)
    assert job.status == "error" and "disk on fire" in job.message
    assert not job.thread.is_alive()


def test_out_of_memory_ends_cleanly_and_the_next_job_works(runner, monkeypatch):
    original = Trainer.step

    def out_of_memory(self):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")
    monkeypatch.setattr(Trainer, "step", out_of_memory)
    job = runner.submit(PRESETS["playground"].load())
    assert job.wait(10)
    assert job.status == "error" and "ran out of memory" in job.message and job.trainer is None
    monkeypatch.setattr(Trainer, "step", original)
    document = PRESETS["playground"].load()
    document.training["epochs"] = 2
    second = runner.submit(document)
    assert second.wait(20) and second.status == "finished"


def test_a_job_without_heartbeats_stops_by_itself():
    runner = ThreadRunner(heartbeat_timeout=1.5)
    job = runner.submit(long_playground())
    # A live page beats while the job starts (however slow the machine) and for a while after.
    assert wait_for(lambda: job.heartbeat() or job.snapshot().step > 0)
    for _ in range(5):
        time.sleep(0.2)
        job.heartbeat()
    assert job.active
    assert job.wait(30)
    assert job.status == "stopped" and "no heartbeat" in job.message


def test_runner_caps_concurrent_jobs(runner):
    runner.submit(long_playground())
    runner.submit(long_playground())
    with pytest.raises(RuntimeError, match="already training 2 networks"):
        runner.submit(long_playground())
    runner.shutdown()
    assert runner.active_jobs() == []
    runner.submit(PRESETS["playground"].load()).stop()


def test_checkpoint_round_trip_and_tampering(tmp_path):
    document = PRESETS["lenet"].load()
    document.training["epochs"] = 1
    trainer = Trainer(document)
    while trainer.step():
        pass
    data = checkpoint_bytes(document, trainer.setup.model)
    loaded_document, model = read_checkpoint(data)
    assert loaded_document.to_dict() == document.to_dict()
    x = trainer.setup.splits["test"].x[:16]  # on the training device (a GPU when there is one)
    trainer.setup.model.eval()
    assert torch.allclose(model.eval()(x.cpu()), trainer.setup.model(x).cpu(), atol=1e-5)
    with pytest.raises(CheckpointError):
        read_checkpoint(b"\x80\x04pickle-data" + data[:100])
    other = PRESETS["playground"].load()
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_size])
    header["__metadata__"]["document"] = other.to_json(indent=None)
    text = json.dumps(header).encode()
    swapped = len(text).to_bytes(8, "little") + text + data[8 + header_size:]
    with pytest.raises(CheckpointError, match="do not fit"):
        read_checkpoint(swapped)


def test_train_command_writes_metrics_checkpoint_and_summary(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "playground", "--epochs", "4", "--out", str(out)]) == 0
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,step,train_loss,val_loss,test_loss") and len(lines) == 5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs"] == 4 and summary["updates"] == 80
    assert 0 <= summary["test_metric"] <= 1
    document, model = load_checkpoint(out / "checkpoint.safetensors")
    assert document.training["epochs"] == 4
    assert "finished 4 epochs" in capsys.readouterr().out


def test_train_command_rejects_a_network_without_data(tmp_path, capsys):
    raw = {**PRESETS["playground"].document, "data": None}  # valid without data: the input's shape is set
    raw["network"] = {**raw["network"], "nodes": [
        {**n, "params": {**n["params"], "shape": [2]}} if n["type"] == "input" else n for n in raw["network"]["nodes"]]}
    path = tmp_path / "no_data.json"
    path.write_text(json.dumps(raw))
    assert main(["train", str(path), "--out", str(tmp_path)]) == 2
    assert "no dataset is chosen" in capsys.readouterr().err


@pytest.mark.gpu
def test_training_on_cuda_keeps_data_on_the_gpu_and_reports_it():
    document = PRESETS["lenet"].load()
    document.training.update(epochs=2, device="cuda", mixed_precision=True)
    trainer = Trainer(document)
    while trainer.step():
        pass
    assert trainer.setup.splits["train"].x.device.type == "cuda"
    assert trainer.setup.info["device"] == "cuda" and trainer.setup.info["name"]
    assert trainer.setup.info["mixed_precision"] == torch.cuda.is_bf16_supported()
    assert trainer.metrics.epochs()[-1].train_metric > 0.5


@pytest.mark.gpu
def test_cpu_and_cuda_agree_on_the_first_updates():
    losses = {}
    for device in ("cpu", "cuda"):
        document = PRESETS["playground"].load()
        document.training.update(epochs=1, device=device)
        trainer = Trainer(document)
        while trainer.step():
            pass
        losses[device] = [r.loss for r in trainer.metrics.steps()]
    assert losses["cpu"] == pytest.approx(losses["cuda"], rel=1e-3, abs=1e-4)
