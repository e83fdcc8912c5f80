"""The Ray actor's side of a Ray job: train in a thread, answer the parent's polls with what is new.

`TrainingActor` is a plain class; `ray_runner` makes it a Ray actor (`ray.remote`), so this module
imports without Ray. It lives in a Ray worker process, maybe on another machine: everything it
returns is plain data (numbers, our record dataclasses, NumPy arrays), never a torch object or the
dataset, and the parent's commands arrive with each poll.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import torch

from dlbuilder.datasets.base import DatasetError
from dlbuilder.datasets.uploaded import store_upload, upload_folder
from dlbuilder.document import Document, load_document
from dlbuilder.training.device import set_worker_threads
from dlbuilder.training.job import JobHandle
from dlbuilder.training.worker import WORKER_NICENESS, job_commands, news, nothing_sent

# The upload store's owner key for a file a Ray job brought to this node, one per file: a store owner
# keeps only its 3 newest files, and jobs starting together must not replace each other's.
UPLOAD_OWNER = "ray-worker:{key}"


def to_numpy(tensors: dict | None) -> dict | None:
    """name -> NumPy array (bfloat16, which NumPy lacks, travels as float32)."""
    if tensors is None:
        return None
    return {name: (t.float() if t.dtype == torch.bfloat16 else t).numpy() for name, t in tensors.items()}


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """A CPU tensor of its own (arrays that come out of Ray's object store are read-only)."""
    return torch.from_numpy(np.array(array, copy=True))


def to_torch(arrays: dict | None) -> dict | None:
    """name -> CPU tensor."""
    return None if arrays is None else {name: to_tensor(a) for name, a in arrays.items()}


def place_upload(document: Document, data: bytes) -> None:
    """Put an uploaded CSV where `load_bundle` finds it on this node (the server's cache may be elsewhere)."""
    key = str(document.data.params.get("file", ""))
    if hashlib.sha256(data).hexdigest()[:24] != key:
        raise DatasetError("the uploaded CSV file changed on its way to the training worker: start again")
    if any(upload_folder().glob(f"*/{key}.csv")):
        return  # this node is the server's own machine, or an earlier job brought it
    store_upload(data, owner=UPLOAD_OWNER.format(key=key), params=document.data.params)


class TrainingActor:
    """One job in a Ray worker process: a thread `JobHandle` trains, `poll` passes on the news."""

    def __init__(self, document_json: str, device: str | None, upload: bytes | None = None):
        os.nice(WORKER_NICENESS)  # on the server's own machine the web server answers first
        set_worker_threads()
        document = load_document(document_json)
        # A failed set-up ends the job at the first poll, with its reason: a raising __init__ would
        # read as a lost worker.
        self._failure = ""
        try:
            if upload is not None:
                place_upload(document, upload)
        except (DatasetError, OSError) as error:
            self._failure = f"the training worker could not store the uploaded CSV file: {error}"
        self.job = JobHandle(document, device=device)
        self._sent, self._commands = nothing_sent(), job_commands(self.job)
        self._started = False

    def pid(self) -> int:
        """This worker's process id (tests kill it to play a crashed worker)."""
        return os.getpid()

    def poll(self, commands: list[str]) -> list[tuple]:
        """Obey `commands`, then return the news: ("weights" | "info" | "update" | "end", ...) messages.

        The first poll starts training, so a pause given before the actor existed holds it before its
        first step. The "end" message comes last, after the records of the job's final steps.
        """
        for command in commands:
            if command in self._commands:
                self._commands[command]()
        if self._failure:
            return [("end", "error", self._failure, None)]
        if not self._started:
            self._started = True
            self.job.thread.start()
        ended = self.job.wait(0)  # (read before the news: nothing the job did is left out)
        messages = [_plain(message) for message in news(self.job, self._sent, with_bundle=False)]
        if ended:
            messages.append(("end", self.job.status, self.job.message, to_numpy(self.job.state_dict())))
        return messages


def _plain(message: tuple) -> tuple:
    """The message with its tensors as NumPy arrays (weights copies, new weight snapshots)."""
    if message[0] == "weights":
        return ("weights", to_numpy(message[1]))
    if message[0] == "update" and message[-1] is not None:
        new, kept = message[-1]
        return (*message[:-1], ([(epoch, flat.numpy()) for epoch, flat in new], kept))
    return message
