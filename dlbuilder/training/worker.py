"""The worker process's side of a process job: train in a thread, relay commands and records.

`child_main` runs in a child of the forkserver (see `process_runner`). Its training thread is a
plain `JobHandle`; this process's main thread obeys the parent's commands and sends what the
parent has not seen yet (records, counters, weight copies, snapshots) 20 times a second.
`news` (what is new since the last relay) is shared with the Ray actor (`ray_worker`).
"""

from __future__ import annotations

import os
import pickle

from dlbuilder.document import load_document
from dlbuilder.training.job import JobHandle

RELAY_SECONDS = 0.05  # the worker sends new records this often
WORKER_NICENESS = 10  # measured: at 5, 30 students on 2 cores waited 1.6 s (p50) for their queue place


def child_main(conn, document_json: str, device: str | None) -> None:
    """The worker: train in a thread, relay commands and new records until the job ends."""
    os.nice(WORKER_NICENESS)  # the web server (and a browser on the same host) answer first
    job = JobHandle(load_document(document_json), device=device)
    sent, commands = nothing_sent(), job_commands(job)
    try:
        _obey(conn, commands)  # a pause given while the worker was launched holds it before its first step
        job.thread.start()
        while True:
            ended = job.wait(RELAY_SECONDS)
            _obey(conn, commands)
            _relay(conn, job, sent)
            if ended:
                _post(conn, ("end", job.status, job.message, job.state_dict()))
                conn.close()
                return
    except (EOFError, OSError):  # the server has gone: nobody is watching
        job.stop()


def _obey(conn, commands: dict) -> None:
    while conn.poll():
        command = conn.recv()
        if command in commands:
            commands[command]()


def nothing_sent() -> dict:
    """What a relay has passed on so far (see `news`): nothing yet."""
    return {"step": 0, "epoch": 0, "info": False, "weights": 0, "snapshot": -1}


def job_commands(job: JobHandle) -> dict:
    """The commands a parent may send, by name ("weights" is served between two steps)."""
    return {"pause": job.pause, "resume": job.resume, "stop": job.stop, "step_once": job.step_once,
            "weights": job.request_weights}


def _relay(conn, job: JobHandle, sent: dict) -> None:
    for message in news(job, sent):
        _post(conn, message)


def news(job: JobHandle, sent: dict, with_bundle: bool = True) -> list[tuple]:
    """What the parent has not seen yet (weights copies, the job's info, new records, counters); updates `sent`.

    Ray's parent makes its own dataset (`with_bundle=False`): the "info" message then carries None.
    """
    messages = []
    served, weights = job.served_weights()
    if served > sent["weights"]:
        messages.append(("weights", weights))
        sent["weights"] = served
    snapshot = job.snapshot()
    if not sent["info"] and job.trainer is not None:
        bundle = job.trainer.setup.bundle if with_bundle else None
        messages.append(("info", snapshot.info, snapshot.updates_per_epoch, bundle))
        sent["info"] = True
    steps = [r for r in snapshot.steps if r.step > sent["step"]]
    epochs = [r for r in snapshot.epochs if r.epoch > sent["epoch"]]
    sent["step"] = steps[-1].step if steps else sent["step"]
    sent["epoch"] = epochs[-1].epoch if epochs else sent["epoch"]
    messages.append(("update", snapshot.status, snapshot.message, snapshot.epoch, snapshot.step,
                     snapshot.best_epoch, snapshot.patience_wait, steps, epochs, _new_snapshots(job, sent)))
    return messages


def _new_snapshots(job: JobHandle, sent: dict) -> tuple[list, list[int]] | None:
    """Weight snapshots the parent lacks, and the epochs the worker still keeps (it thins old ones)."""
    kept = job.metrics.snapshots()
    new = [(epoch, flat) for epoch, flat in kept if epoch > sent["snapshot"]]
    if not new:
        return None
    sent["snapshot"] = new[-1][0]
    return new, [epoch for epoch, _ in kept]


def _post(conn, message: tuple) -> None:
    """Send with plain pickle: multiprocessing's own pickler passes tensors as shared-memory handles,
    which the parent cannot open once this worker has exited (a quick job's last messages)."""
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
