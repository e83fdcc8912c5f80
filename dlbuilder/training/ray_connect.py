"""Connecting this process to Ray, once: the cluster at $RAY_ADDRESS, else a new local instance.

A local instance gets $DLBUILDER_RAY_CPUS CPUs (default: all of this machine's). The job actors
import dlbuilder from a copy that Ray uploads with the connection (`py_modules`), so a remote node
needs only the same Python, ray and requirements.txt, not this repository.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import threading
import traceback
from pathlib import Path

import dlbuilder

CONNECT_SECONDS = 60.0  # ray.init may retry for minutes against an address that accepts but does not answer
PROBE_SECONDS = 5.0  # first, is anything listening at RAY_ADDRESS at all?
# Settings that change how a job trains: a remote node gets the server's values.
FORWARDED_SETTINGS = ("DLBUILDER_FAST_PATH", "DLBUILDER_TORCH_THREADS", "DLBUILDER_CPU_MAX_WORK")
HOST_AND_PORT = re.compile(r"\[?([\w.:-]+?)\]?:(\d{1,5})")
_lock = threading.Lock()  # one thread connects; the others wait for it
_requests: queue.SimpleQueue = queue.SimpleQueue()
_keeper: threading.Thread | None = None


def ray_cpus() -> int:
    """CPUs of a local Ray instance: $DLBUILDER_RAY_CPUS (1-1024), else all of this machine's."""
    text = os.environ.get("DLBUILDER_RAY_CPUS", "").strip()
    return int(text) if text.isascii() and text.isdigit() and 1 <= int(text) <= 1024 else (os.cpu_count() or 1)


def runtime_env() -> dict:
    """Ray's runtime environment for the job actors: this package (uploaded) and the forwarded settings."""
    env_vars = {name: os.environ[name] for name in FORWARDED_SETTINGS if name in os.environ}
    return {"py_modules": [str(Path(dlbuilder.__file__).parent)], "excludes": ["__pycache__"], "env_vars": env_vars}


def connect():
    """Connect this process to Ray once (thread-safe); the `ray` module. RuntimeError says what to change."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("the Ray runner needs the ray package: pip install ray==2.60.0 "
                           "(or use DLBUILDER_RUNNER=process)") from None
    with _lock:
        if ray.is_initialized():
            return ray
        address = os.environ.get("RAY_ADDRESS", "").strip()
        # ("local": a new instance even when a `ray start` cluster runs on this machine; that one is
        # used only when RAY_ADDRESS names it)
        options = ({"address": address} if address else
                   {"address": "local", "num_cpus": ray_cpus(), "include_dashboard": False})
        try:
            if address:
                _probe(address)
            _on_keeper_thread(lambda: ray.init(**options, runtime_env=runtime_env(), log_to_driver=False))
        except Exception as error:
            if _needs_token(error):
                raise RuntimeError(f"the Ray cluster at RAY_ADDRESS={address} asks for its token: set "
                                   "RAY_AUTH_MODE=token here and copy ~/.ray/auth_token from its head machine "
                                   "(or set RAY_AUTH_TOKEN)") from None
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()[:300]
            where = (f"the Ray cluster at RAY_ADDRESS={address} ({detail}): check that `ray start --head` runs "
                     "there with the same ray version, or unset RAY_ADDRESS to train on this machine"
                     if address else f"a new local Ray instance ({detail}): set RAY_ADDRESS to use a running "
                     "cluster, or use DLBUILDER_RUNNER=process")
            raise RuntimeError(f"could not connect to {where}") from None
    return ray


def _needs_token(error: BaseException | None) -> bool:
    """The cluster refused us for want of its token (Ray's ConnectionError keeps that in a cause's text)."""
    while error is not None:
        if type(error).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _probe(address: str) -> None:
    """OSError at once when nothing listens at a host:port address (ray.init would wait for minutes)."""
    match = HOST_AND_PORT.fullmatch(address)
    if match:  # ("auto" and "ray://..." are left to Ray)
        with socket.create_connection((match[1], int(match[2])), timeout=PROBE_SECONDS):
            pass


def _on_keeper_thread(function):
    """Run `function` on one thread that lives as long as this process; its result, or TimeoutError.

    A local Ray instance's processes get SIGKILL when the *thread* that started them ends (Ray sets
    PR_SET_PDEATHSIG): started from a job's relay thread, they died with that job.
    """
    global _keeper
    answer: queue.SimpleQueue = queue.SimpleQueue()
    if _keeper is None:
        _keeper = threading.Thread(target=_keep, name="dlbuilder-ray-keeper", daemon=True)
        _keeper.start()
    _requests.put((function, answer))
    try:
        result, error = answer.get(timeout=CONNECT_SECONDS)
    except queue.Empty:
        raise TimeoutError(f"no answer within {CONNECT_SECONDS:g} s") from None
    if error is not None:
        raise error
    return result


def _keep() -> None:
    while True:
        function, answer = _requests.get()
        try:
            answer.put((function(), None))
        except BaseException as error:  # (handed to the caller)
            answer.put((None, error))
