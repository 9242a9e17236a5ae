"""Parking: hand an idle daemon's socket to a 9 MB waiter, and take it back when a client comes.

A daemon with nothing loaded still costs the interpreter plus asyncio, anyio,
sqlite3 and msgpack: about 25 MB that no amount of freeing gives back. So
after ``resources.park_after_s`` seconds with no client, no loaded project,
no queued work and no child process, ``Daemon.run`` returns a ``Handover``
and ``python -m treerag.daemon`` execs (same pid) into ``parked.py``. The
waiter execs the daemon back on the first connection; the daemon finds the
listening socket, the pid-file lock and a few counters in ``TREERAG_RESUME``
and adopts them (``take_inherited``), so the socket is never closed and no
client is refused. Only ``python -m treerag.daemon`` parks: a daemon run
inside another program (tests, the dashboard's ``serve``) never execs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from treerag.errors import TreeragError

__all__ = ["RESUME_ENV", "STOP_SIGNALS", "Handover", "exec_parked", "resume_argv", "take_inherited"]

RESUME_ENV = "TREERAG_RESUME"
PARKED_SCRIPT = Path(__file__).with_name("parked.py")
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}  # blocked across each exec; parked.py has its own copy


@dataclass(slots=True)
class Handover:
    """What passes from a parking daemon to the woken one: the two descriptors and the state worth
    keeping; ``parked_s`` (set on the way back) is how long it slept."""

    listen_fd: int
    lock_fd: int
    state: dict[str, Any] = field(default_factory=dict)
    parked_s: float = 0.0


def resume_argv(argv: list[str]) -> list[str]:
    """The command line that starts this daemon again: the same, minus the one-shot ``--ready-fd``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--ready-fd":
            skip = True
        else:
            out.append(arg)
    return [sys.executable, *out[1:]] if out else [sys.executable]


def exec_parked(ticket: Handover, *, socket_path: Path, log_file: Path | None, argv: list[str]) -> NoReturn:
    """Replace this process by the waiter; the two descriptors and ``TREERAG_RESUME`` go with it.
    SIGTERM and SIGINT stay blocked across the exec, so one sent now is handled by the waiter."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    os.set_inheritable(ticket.listen_fd, True)
    os.set_inheritable(ticket.lock_fd, True)
    os.environ[RESUME_ENV] = json.dumps({"listen_fd": ticket.listen_fd, "lock_fd": ticket.lock_fd,
                                         "parked_at": time.time(), "state": ticket.state})
    waiter = [sys.executable, "-S", "-I", str(PARKED_SCRIPT), str(ticket.listen_fd), str(socket_path),
              str(socket_path.with_suffix(".pid")), str(log_file) if log_file else "-", "--", *resume_argv(argv)]
    logging.shutdown()  # flush the log: nothing after exec will
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(waiter[0], waiter)
    except OSError as exc:  # the daemon has stopped serving: leave no socket that nobody answers
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        for path in (socket_path, socket_path.with_suffix(".pid")):
            path.unlink(missing_ok=True)
        raise TreeragError(f"could not park (exec {waiter[0]}: {exc.strerror or exc}); daemon stopped") from exc


def take_inherited() -> Handover | None:
    """The descriptors a parked predecessor left, or None for a fresh start. Removes the variable so
    that workers never see it."""
    raw = os.environ.pop(RESUME_ENV, None)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        listen_fd, lock_fd = int(data["listen_fd"]), int(data["lock_fd"])
        os.fstat(listen_fd)
        os.fstat(lock_fd)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        print(f"treerag: ignored {RESUME_ENV}={raw[:200]!r} ({exc}); starting afresh", file=sys.stderr)
        return None
    for fd in (listen_fd, lock_fd):
        os.set_inheritable(fd, False)
    state = data.get("state") if isinstance(data.get("state"), dict) else {}
    parked_at = data.get("parked_at")
    parked_s = max(0.0, time.time() - float(parked_at)) if isinstance(parked_at, (int, float)) else 0.0
    return Handover(listen_fd, lock_fd, state, parked_s)
