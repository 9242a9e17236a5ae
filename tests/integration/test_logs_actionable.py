"""Every failure in docs/TROUBLESHOOTING.md, provoked for real, is diagnosable from the daemon's log.

The entries are parsed from the document (each ``###`` entry under a ``##``
section has ``Symptom``, ``Cause``, ``Log`` and ``Fix``). For each one a case
below provokes the failure against a real daemon process, real files and a
real SQLite database, reads the log file the daemon wrote, and checks that the
line the entry quotes (``…`` matches anything) is there and says the cause or
the fix. An entry without a case fails here, so the document cannot grow an
entry nobody checked, nor keep one whose line the code no longer writes.

- An entry whose log line is "none yet" is a gap: its case says which line it
  expects and is ``xfail(strict=True)`` until the module that owns it logs it.
- An entry whose log line is "none, by nature" (hooks that never run cannot
  reach the daemon) is checked against what ``treerag doctor`` prints instead.
- The inotify limit cannot be lowered without root, and lowering the real one
  would starve every other process of this user. The daemon runs instead as
  root of its own user namespace (``unshare -U -r``), whose
  ``/proc/sys/user/max_inotify_watches`` it may lower for itself alone: the
  kernel then refuses the watches for real (ENOSPC).
- Cases that need another uid or a small disk (a tmpfs mount) need root and
  are skipped without it, as in test_daemon_socket.py and test_disk_faults.py.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, DaemonProcess, wait_for
from tests.integration.test_index_daemon import PROJECT, make_project, treerag

DOC = REPO / "docs" / "TROUBLESHOOTING.md"
NOBODY = 65534
IS_ROOT = os.getuid() == 0
FIELDS = ("Symptom", "Cause", "Log", "Fix")
TRACEBACK = " [with a traceback]"  # appended to a logged message that carries one: no help to a reader


# -- the document -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    section: str
    title: str
    fields: dict[str, str]

    @property
    def id(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")

    @property
    def log(self) -> str:
        return self.fields.get("Log", "")

    @property
    def quoted(self) -> list[str]:
        """The log lines the entry quotes: its code spans (``…`` spans may hold backticks)."""
        if self.log.startswith("none yet"):
            return []
        return [a or b for a, b in re.findall(r"``\s?(.+?)\s?``|`([^`]+)`", self.log)]


def parse_entries(text: str) -> list[Entry]:
    entries: list[Entry] = []
    section = ""
    for block in re.split(r"^(?=#{2,3} )", text, flags=re.M):
        heading, _, body = block.partition("\n")
        if heading.startswith("## "):
            section = heading[3:].strip()
        elif heading.startswith("### "):
            fields = {}
            for name, value in re.findall(r"^- \*\*(\w+)[^*]*:\*\*\s*(.*?)(?=^- \*\*|\Z)", body, flags=re.M | re.S):
                fields[name] = " ".join(value.split())
            entries.append(Entry(section, heading[4:].strip(), fields))
    return entries


ENTRIES = parse_entries(DOC.read_text())


def pattern(quoted: str) -> re.Pattern[str]:
    """A quoted log line as a regex: ``…`` (or ``...``) matches anything, any whitespace matches any."""
    parts = re.split(r"…|\.\.\.", quoted)
    return re.compile(".+?".join(r"\s+".join(map(re.escape, p.split())) for p in parts))


# -- provoking ----------------------------------------------------------------------------------


@dataclass
class Env:
    home: Path
    tmp: Path
    short: Path
    daemon: Callable[..., DaemonProcess]
    in_userns: list[DaemonProcess]  # daemons started by start_daemon_in_userns, stopped after the test

    def project(self, name: str = "shop", files: dict[str, str] = PROJECT) -> Path:
        return make_project(self.tmp / name, files)


def log_messages(path: Path) -> list[str]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        out.append(record["msg"] + (TRACEBACK if "exc" in record else ""))
    return out


def failed_start(sock: Path, log: Path, expect_rc: int = 1) -> list[str]:
    """Start a daemon that must refuse to start; return its log (stderr has the same, once)."""
    proc = subprocess.run([sys.executable, "-m", "treerag.daemon", "--socket", str(sock), "--log-file", str(log)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == expect_rc, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in log.read_text()
    messages = log_messages(log)
    assert "daemon stopped" not in messages  # it never started
    return messages


def wait_for_log(daemon: DaemonProcess, needle: str, timeout: float = 10) -> list[str]:
    wait_for(lambda: needle in daemon.log_text(), timeout=timeout)
    return log_messages(daemon.log)


def userns_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-U", "-r", "sh", "-c", "echo 3 > /proc/sys/user/max_inotify_watches"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


def start_daemon_in_userns(sock: Path, setup: str, env: dict[str, str] | None = None) -> DaemonProcess:
    """conftest's start_daemon_process, with the daemon as root of its own user namespace after ``setup``."""
    log = sock.parent / "daemon.log"
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["unshare", "-U", "-r", "sh", "-c", f'{setup} && exec "$@"', "sh",
         sys.executable, "-m", "treerag.daemon", "--socket", str(sock), "--log-file", str(log),
         "--ready-fd", str(write_fd)],
        pass_fds=(write_fd,), env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    ready, _, _ = select.select([read_fd], [], [], 20)
    answer = os.read(read_fd, 4096).decode() if ready else ""
    os.close(read_fd)
    if answer.strip() != "ok":
        proc.kill()
        _, err = proc.communicate(timeout=5)
        raise RuntimeError(f"daemon did not start: {answer!r} {err.decode()[-2000:]}")
    return DaemonProcess(socket=sock, proc=proc, log=log)


@pytest.fixture
def userns_daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    try:
        yield started
    finally:
        for d in started:
            d.stop()


def already_running(env: Env) -> list[str]:
    first = env.daemon()
    return failed_start(first.socket, first.log, expect_rc=4)


def not_a_socket(env: Env) -> list[str]:
    sock = env.short / "treerag.sock"
    sock.write_text("not a socket")
    messages = failed_start(sock, env.short / "daemon.log")
    assert sock.read_text() == "not a socket"  # nothing lost
    return messages


def socket_dir_of_another_user(env: Env) -> list[str]:
    if IS_ROOT:
        theirs = env.short / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, NOBODY, NOBODY)
    else:
        theirs = Path("/tmp")  # root's: the daemon checks it and creates nothing there
    return failed_start(theirs / f"treerag-{os.getpid()}.sock", env.short / "daemon.log")


def invalid_config_file(env: Env) -> None:
    config = env.home / ".config" / "treerag" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[resources]\nmemory_limt_mb = 80\n")


def invalid_config(env: Env) -> list[str]:
    invalid_config_file(env)
    return failed_start(env.short / "treerag.sock", env.short / "daemon.log")


def stale_socket(env: Env) -> list[str]:
    crashed = env.daemon()
    crashed.proc.kill()  # SIGKILL: no clean-up, the socket file stays
    crashed.stop()
    assert crashed.socket.exists()
    second = env.daemon()
    assert second.call("ping") == "pong"
    return log_messages(second.log)


def inotify_watch_limit(env: Env) -> list[str]:
    if not userns_available():
        pytest.skip("needs unprivileged user namespaces (unshare -U -r) to lower the inotify limit for one process")
    files = {**PROJECT, **{f"pkg{i}/mod.py": f"def f{i}():\n    return {i}\n" for i in range(6)}}
    project = env.project("big", files)
    daemon = start_daemon_in_userns(env.short / "treerag.sock", "echo 3 > /proc/sys/user/max_inotify_watches")
    env.in_userns.append(daemon)
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    return wait_for_log(daemon, "inotify watch limit")


def another_users_daemon(env: Env) -> list[str]:
    if not IS_ROOT:
        pytest.skip("connecting as another uid needs root")
    daemon = env.daemon()
    os.chmod(daemon.socket.parent, 0o711)  # let the other user reach the socket, so the daemon must refuse
    os.chmod(daemon.socket, 0o666)
    pid = os.fork()
    if pid == 0:  # child: become nobody and connect
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                s.connect(str(daemon.socket))
                s.sendall(b'{"method": "ping"}\n')
                s.recv(4096)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return wait_for_log(daemon, "refused connection")


def socket_dir_open_to_others(env: Env) -> list[str]:
    (env.short / "open").mkdir()
    os.chmod(env.short / "open", 0o755)
    daemon = env.daemon("open/treerag.sock")
    assert (daemon.socket.parent.stat().st_mode & 0o777) == 0o700
    return log_messages(daemon.log)


def secret_files_skipped(env: Env) -> list[str]:
    daemon = env.daemon()
    project = env.project(files={**PROJECT, "shop/settings.py": "API_KEY = 'sk-live-4fQ9x2Lm8Rt7Vb3Nk6Wz1Yc5Hd0Jg2Pa'\n"})
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    tree = treerag("tree", str(project), sock=daemon.socket)
    assert "settings.py" not in tree.stdout and "cart.py" in tree.stdout
    return log_messages(daemon.log)


def unreadable_files_skipped(env: Env) -> list[str]:
    project = env.project()
    private = project / "private"
    private.mkdir()
    (private / "notes.py").write_text("def hidden():\n    pass\n")
    if IS_ROOT:  # root reads anything: run the daemon as root of a user namespace, where nobody's files are closed
        if not userns_available():
            pytest.skip("as root, needs user namespaces to make a file unreadable to the daemon")
        os.chown(private / "notes.py", NOBODY, NOBODY)
        os.chown(private, NOBODY, NOBODY)
        private.chmod(0o700)
        daemon = start_daemon_in_userns(env.short / "treerag.sock", "true")
        env.in_userns.append(daemon)
    else:
        private.chmod(0o000)
        daemon = env.daemon()
    try:
        out = treerag("index", str(project), "--json", sock=daemon.socket)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["skipped"].get("unreadable", 0) >= 1  # the CLI says so; the log must too
    finally:
        private.chmod(0o700)
    return log_messages(daemon.log)


def corrupt_index(env: Env) -> list[str]:
    daemon = env.daemon()
    project = env.project()
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    daemon.call("project.evict", path=str(project))
    db = next((env.home / ".cache" / "treerag" / "projects").glob("*/index.sqlite"))
    db.write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert treerag("index", str(project), sock=daemon.socket).returncode == 0
    assert list(db.parent.glob("index.sqlite.corrupt-*"))
    return log_messages(daemon.log)


@contextmanager
def tiny_disk(env: Env) -> Iterator[Path]:
    """A 1 MiB tmpfs for the index cache (root only, as in test_disk_faults.py)."""
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("needs root and tmpfs mounts to make a small disk")
    tiny = env.tmp / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(tiny)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield tiny
    finally:
        subprocess.run(["umount", "-l", str(tiny)], capture_output=True)


def fill(disk: Path) -> None:
    subprocess.run(["dd", "if=/dev/zero", f"of={disk / 'filler'}", "bs=4k"], capture_output=True)


def full_disk(env: Env) -> list[str]:
    with tiny_disk(env) as tiny:
        daemon = env.daemon(env={"XDG_CACHE_HOME": str(tiny)})
        project = env.project()
        assert treerag("index", str(project), sock=daemon.socket).returncode == 0
        fill(tiny)
        for i in range(150):  # enough new pages that the WAL cannot reuse what it has
            (project / "big" / f"m{i}.py").parent.mkdir(exist_ok=True)
            (project / "big" / f"m{i}.py").write_text(f"def function_{i}(a, b):\n    return a + b\n" * 20)
        out = treerag("index", str(project), sock=daemon.socket)
        assert out.returncode == 1 and "disk full" in out.stderr, out.stderr
        assert daemon.call("ping") == "pong"  # still serving
        return log_messages(daemon.log)


def full_disk_before_first_build(env: Env) -> list[str]:
    with tiny_disk(env) as tiny:
        daemon = env.daemon(env={"XDG_CACHE_HOME": str(tiny)})
        fill(tiny)
        out = treerag("index", str(env.project()), sock=daemon.socket)
        assert out.returncode == 1 and "disk full" in out.stderr, out.stderr
        assert daemon.call("ping") == "pong"
        return log_messages(daemon.log)


def memory_pressure(env: Env) -> list[str]:
    daemon = env.daemon(env={"TREERAG_RESOURCES_MEMORY_LIMIT_MB": "12"})  # below what the interpreter needs
    for name in ("one", "two"):
        assert treerag("index", str(env.project(name)), sock=daemon.socket).returncode == 0
    return wait_for_log(daemon, "evicted")


def parked_while_idle(env: Env) -> list[str]:
    daemon = env.daemon(env={"TREERAG_RESOURCES_PARK_AFTER_S": "0.5"})
    wait_for_log(daemon, "parking after")
    assert daemon.call("ping") == "pong"
    return wait_for_log(daemon, "woke after")


def out_of_file_descriptors(env: Env) -> list[str]:
    import resource

    daemon = env.daemon(env={"TREERAG_DAEMON_MAX_CONNECTIONS": "1000"})
    resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (48, 48))
    held = []
    try:
        for _ in range(60):
            conn = socket.socket(socket.AF_UNIX)
            conn.settimeout(10)
            conn.connect(str(daemon.socket))
            conn.sendall(b'{"id": 1, "method": "ping"}\n')
            held.append(conn)
            if b"out_of_resources" in conn.recv(4096):
                break
        else:
            raise AssertionError("the daemon never ran out of descriptors")
    finally:
        for conn in held:
            conn.close()
    return wait_for_log(daemon, "out of file descriptors")


def hook_cannot_start_the_daemon(env: Env) -> list[str]:
    invalid_config_file(env)
    hook = subprocess.run([sys.executable, "-S", "-I", str(REPO / "treerag" / "hooks" / "run.py"),
                           "--socket", str(env.short / "treerag.sock"), "prompt"],
                          input=json.dumps({"cwd": str(env.tmp), "prompt": "how is the cart total computed"}),
                          capture_output=True, text=True, timeout=30)
    assert hook.returncode == 0 and "started it for the next prompt" in hook.stderr, hook.stderr
    log = env.home / ".local" / "state" / "treerag" / "treerag.log"  # where the hook's daemon logs
    wait_for(lambda: log.exists() and "daemon not started" in log.read_text(), timeout=15)
    return log_messages(log)


def hooks_not_installed(env: Env) -> list[str]:
    daemon = env.daemon()
    out = subprocess.run([sys.executable, "-m", "treerag", "doctor", "--socket", str(daemon.socket),
                          "--project", str(env.project())], capture_output=True, text=True, timeout=60)
    return [out.stdout]


def prompt_in_unindexed_project(env: Env) -> list[str]:
    daemon = env.daemon()
    elsewhere = env.project("elsewhere")  # on disk, never indexed
    reply = daemon.call("hook", event="prompt",
                        payload={"cwd": str(elsewhere), "prompt": "how is the cart total computed"})
    assert reply == {}
    return log_messages(daemon.log)


@dataclass(frozen=True)
class Case:
    provoke: Callable[..., list[str]]
    says: tuple[str, ...]  # what the matched line must say: its cause or its fix
    expected: str | None = None  # for an entry with no log line yet: the line the owning module should log
    gap: str | None = None  # why that line is missing, and where it belongs


CASES: dict[str, Case] = {
    "another-daemon-is-already-running": Case(already_running, ("already running", "treerag stop")),
    "something-else-sits-at-the-socket-path": Case(not_a_socket, ("is not a socket", "remove it by hand")),
    "the-socket-directory-belongs-to-another-user": Case(socket_dir_of_another_user,
                                                         ("belongs to uid", "daemon.socket_path")),
    "the-configuration-is-invalid": Case(invalid_config,
                                         ("config.toml", "memory_limt_mb", "did you mean", "treerag config show")),
    "a-socket-left-by-a-daemon-that-crashed": Case(stale_socket, ("daemon that is gone", "nothing to do")),
    "edits-in-a-large-tree-are-not-picked-up": Case(inotify_watch_limit,
                                                    ("watch limit", "sudo sysctl fs.inotify.max_user_watches")),
    "another-user-s-daemon": Case(another_users_daemon, (f"uid {NOBODY}", "treerag serve --headless --detach")),
    "the-socket-directory-is-open-to-other-users": Case(socket_dir_open_to_others, ("had mode 755", "0700")),
    "a-file-that-holds-a-secret-is-missing-from-the-index": Case(secret_files_skipped, ("settings.py", "secret")),
    "other-files-are-missing-from-the-index": Case(unreadable_files_skipped, ("unreadable", "private")),
    "an-index-that-cannot-be-used": Case(corrupt_index, ("unusable", "corrupt-", "starting a fresh one")),
    "no-space-for-the-index": Case(full_disk, ("disk full", "treerag index")),
    "no-space-for-the-first-build": Case(full_disk_before_first_build, ("disk full", "treerag index")),
    "projects-are-evicted-under-memory-pressure": Case(memory_pressure, ("memory pressure", "12 MB")),
    "ps-shows-parked-py-where-the-daemon-was": Case(parked_while_idle, ("idle", "waiter", "woke after")),
    "clients-get-out-of-resources": Case(out_of_file_descriptors, ("ulimit -n", "daemon.max_connections")),
    "hooks-are-not-installed": Case(hooks_not_installed, ("treerag install-hooks",)),
    "every-hook-says-it-started-the-daemon": Case(hook_cannot_start_the_daemon,
                                                  ("memory_limt_mb", "treerag config show")),
    "the-project-is-not-indexed": Case(prompt_in_unindexed_project, ("no indexed project", "treerag index")),
}


class NotProvoked(Exception):
    """The failure could not be provoked as the case expects (never an expected failure)."""


def _param(entry: Entry):  # type: ignore[no-untyped-def]
    case = CASES.get(entry.id)
    marks = []
    if case is not None and case.gap is not None:
        marks.append(pytest.mark.xfail(strict=True, raises=AssertionError, reason=case.gap))
    return pytest.param(entry, id=entry.id, marks=marks)


def test_the_document_has_entries_and_every_case_has_one():
    assert len(ENTRIES) >= 10
    stale = set(CASES) - {e.id for e in ENTRIES}
    assert not stale, f"cases for entries TROUBLESHOOTING no longer has: {sorted(stale)}"


def test_every_entry_has_symptom_cause_log_and_fix():
    for entry in ENTRIES:
        assert set(FIELDS) <= set(entry.fields), f"{entry.title}: has {sorted(entry.fields)}, wants {FIELDS}"
        assert entry.quoted or entry.log.startswith(("none yet", "none, by nature")), entry.title


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_failure_is_diagnosable_from_the_log(entry: Entry, isolated_env, tmp_path, short_dir, daemon_factory,
                                             userns_daemons):
    case = CASES.get(entry.id)
    assert case is not None, f"TROUBLESHOOTING entry {entry.title!r} has no provoked case in CASES"
    try:
        messages = case.provoke(Env(isolated_env, tmp_path, short_dir, daemon_factory, userns_daemons))
    except AssertionError as exc:  # not the gap an xfail names: the failure itself was not provoked
        raise NotProvoked(f"{entry.title}: {exc}") from exc
    if entry.log.startswith("none yet"):
        assert case.gap is not None, f"{entry.title}: the document says there is no log line; the case must say why"
        wanted = [re.compile(case.expected or "")]
    else:
        assert case.gap is None, f"{entry.title}: the document quotes a log line; drop the case's gap"
        wanted = [pattern(q) for q in entry.quoted]
    matched = []
    for regex in wanted:
        hits = [m for m in messages if regex.search(m)]
        assert hits, f"{entry.title}: no log line matches {regex.pattern!r}; the log has:\n" + "\n".join(messages)
        matched += hits
    assert not [m for m in messages if m.endswith(TRACEBACK)], f"{entry.title}: a traceback in the log: {messages}"
    for fragment in case.says:
        assert any(fragment in m for m in matched), f"{entry.title}: the line does not say {fragment!r}: {matched}"
