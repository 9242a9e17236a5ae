"""``python -m treerag.daemon``: the daemon process itself, started lean.

``treerag serve --headless`` execs this module (and ``--detach`` spawns it) so
the daemon never pays for the CLI's imports (argparse and friends). Options::

    --socket PATH      socket path (overrides config)
    --log-file PATH    JSON-lines log (detached mode); text on stderr otherwise
    --ready-fd N       write "ok" (or "error: ...") to this fd once listening
    --http             also serve the HTTP hook endpoint

When idle for ``resources.park_after_s`` (and not serving HTTP), this process
parks: it execs into ``parked.py`` and is exec'd back by the next client, with
the same pid and socket (see ``park.py``).

Exit codes: 0 clean stop, 1 start-up failure, 4 another daemon already runs.
A start-up failure is also written to ``--log-file`` (even one found while
reading the config, before logging is set up), so a detached daemon that never
started says why in the log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXIT_FAILURE = 1
EXIT_ALREADY_RUNNING = 4


def _parse(argv: list[str]) -> dict[str, str]:
    opts: dict[str, str] = {}
    it = iter(argv)
    for arg in it:
        if arg in ("--socket", "--log-file", "--ready-fd", "--log-level"):
            opts[arg[2:]] = next(it, "")
        elif arg == "--http":
            opts["http"] = "1"
        else:
            raise SystemExit(f"treerag daemon: unknown option {arg!r}")
    return opts


def _report(fd: int, text: str) -> None:
    if fd >= 0:
        try:
            os.write(fd, text.encode() + b"\n")
            os.close(fd)
        except OSError:
            pass


#: What to do, by error code, for start-up failures whose message does not say it already.
_START_HINTS = {
    "already_running": "it keeps serving; `treerag stop` first to restart it",
    "config": "fix that file or variable; `treerag config show` prints where each value comes from",
}


def _log_failure(log_file: Path | None, exc: BaseException) -> None:
    """One ``daemon not started`` line in the log file; stderr (the foreground log) has it already."""
    if log_file is None:
        return
    import logging

    from treerag.logs import setup_logging

    root = logging.getLogger("treerag")
    if not root.handlers:  # failed before build_daemon configured logging (a bad config)
        try:
            setup_logging("info", log_file)
        except OSError:
            return
    code = str(getattr(exc, "code", "") or type(exc).__name__)
    hint = _START_HINTS.get(code)
    logging.getLogger("treerag.daemon").error(
        "daemon not started: %s%s", exc, f"; {hint}" if hint else "", extra={"reason": code}
    )


def main(argv: list[str] | None = None) -> int:
    opts = _parse(sys.argv[1:] if argv is None else argv)
    ready_fd = int(opts.get("ready-fd", "-1") or -1)

    from treerag.errors import DaemonAlreadyRunning, TreeragError

    log_file = Path(opts["log-file"]) if opts.get("log-file") else None
    try:
        from treerag.daemon.bootstrap import build_daemon

        flags: dict[str, object] = {}
        if opts.get("socket"):
            flags["daemon.socket_path"] = opts["socket"]
        if opts.get("log-level"):
            flags["daemon.log_level"] = opts["log-level"]
        if opts.get("http"):
            flags["http.enabled"] = True
        from treerag.daemon.park import exec_parked, take_inherited

        inherited = take_inherited()  # first: the variable is no config key
        daemon = build_daemon(flags, log_file=log_file)

        import anyio

        may_park = not daemon.full_config.get("http.enabled")  # the TCP listener is not handed over
        ticket = anyio.run(lambda: daemon.run(on_ready=lambda: _report(ready_fd, "ok"), may_park=may_park,
                                              inherited=inherited))
        if ticket is not None:
            try:
                exec_parked(ticket, socket_path=daemon.config.socket_path, log_file=log_file, argv=sys.orig_argv)
            except TreeragError as exc:  # the log is closed by now: stderr only
                print(f"treerag: {exc}", file=sys.stderr)
                return EXIT_FAILURE
    except DaemonAlreadyRunning as exc:
        _log_failure(log_file, exc)
        _report(ready_fd, f"error: {exc}")
        print(f"treerag: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    except TreeragError as exc:
        _log_failure(log_file, exc)
        _report(ready_fd, f"error: {exc}")
        print(f"treerag: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        _log_failure(log_file, exc)
        _report(ready_fd, f"error: {exc}")
        print(f"treerag: daemon failed to start: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
