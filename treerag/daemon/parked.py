"""The parked daemon: a stdlib-only waiter that holds the socket while nothing needs the full daemon.

When the daemon has had no project loaded, no client and no queued work for
``resources.park_after_s`` seconds, it execs itself (same pid) into this
script, run as ``python -S -I parked.py``. The waiter keeps the two file
descriptors that make the daemon what it is — the listening socket and the
flock'd pid file — and sleeps in ``select`` on the listener: no timers, no
threads, about 9 MB instead of the full daemon's 25. The first client to
connect wakes it: it execs the full daemon back with the same arguments, and
the daemon adopts both descriptors (``TREERAG_RESUME``), so the waiting
client is accepted from the kernel's backlog and answered; nothing is lost.

SIGTERM or SIGINT while parked stop it as they stop the daemon: the socket
and the pid file are removed. Both stay blocked across each exec and are
unblocked once the new image handles them, so none is lost in a hand-over. If the daemon cannot be exec'd back, the waiter
removes them too and exits 1, so clients see no daemon and start a new one
instead of waiting on a socket nobody answers.

Usage: parked.py LISTEN_FD SOCKET_PATH PID_PATH LOG_FILE|- -- DAEMON_ARGV...
Imports nothing outside the interpreter's core: this file is the idle cost.
"""

import os
import select
import signal
import sys
import time

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}  # as in park.py; this file imports nothing of treerag


def _log(log_file: str, level: str, message: str) -> None:
    """One record in the daemon's log: a JSON line in its log file, else a text line on stderr."""
    try:
        if log_file == "-":
            os.write(2, f"treerag: {message}\n".encode())
            return
        import json

        record = {"ts": round(time.time(), 3), "level": level, "logger": "treerag.daemon.parked", "msg": message}
        fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(record) + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def _remove(*paths: str) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


def main(argv: list[str]) -> int:
    listen_fd, socket_path, pid_path, log_file = int(argv[0]), argv[1], argv[2], argv[3]
    resume = argv[argv.index("--") + 1:]

    def stop(signum: int, _frame: object) -> None:
        _remove(socket_path, pid_path)
        _log(log_file, "info", f"received {signal.Signals(signum).name} while parked; daemon stopped")
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # the daemon blocked both before its exec: one sent during the hand-over is delivered here, now
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    select.select([listen_fd], [], [])  # PEP 475: retried after signals that do not stop us
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # and again for the daemon, which unblocks them
    try:
        os.execv(resume[0], resume)
    except OSError as exc:
        _remove(socket_path, pid_path)
        _log(log_file, "error", f"parked daemon could not start the daemon again ({resume[0]}: {exc.strerror}); "
                                "stopped so that the next client starts a fresh one")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
