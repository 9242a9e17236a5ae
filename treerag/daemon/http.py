"""The optional HTTP endpoint: Claude Code ``http`` hooks, ``/healthz`` and Prometheus ``/metrics``.

Off by default; ``--http`` (``http.enabled``) serves ``http.host``:``http.port``,
loopback only: any host but 127.0.0.1, ::1 or localhost stops start-up with a
ConfigError naming it. Every route, ``/healthz`` included, needs
``Authorization: Bearer <token>``; without it the answer is 401 with an empty
body and nothing else::

    POST /v1/hooks/<event>  session-start prompt pre-tool post-edit subagent-start session-end
                            200 + the hook output JSON object, or 200 + an empty body
    GET  /healthz           200 {"ok": true, "version": ..., "pid": ...}
    GET  /metrics           200 Prometheus text format 0.0.4

The token is ``state_dir()/http.token`` (0600, ``secrets.token_urlsafe(32)``,
created on first start); the installed hooks send ``Bearer $TREERAG_HTTP_TOKEN``,
so Claude Code needs ``export TREERAG_HTTP_TOKEN=$(cat ~/.local/state/treerag/http.token)``.

Hooks never block Claude Code: a body that is not a JSON object, or a failing
hook, gets 200 with an empty body and one log line. Otherwise 404 unknown route
or event, 405 wrong method; and, closing the connection, 413 body over 1 MiB,
501 ``Transfer-Encoding`` (bodies are read by ``Content-Length`` only), 400
malformed and 431 head over 16 KiB (these two before the token is checked: such
a request has no headers to trust). HTTP/1.1 connections are kept alive until
``Connection: close`` or ``daemon.read_timeout_s`` of silence; HTTP/1.0 gets one
answer. A request not fully read within that deadline is dropped unanswered.
"""

from __future__ import annotations

import errno
import hmac
import json
import logging
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from anyio.streams.buffered import BufferedByteReceiveStream

from treerag import __version__
from treerag.client.memory import dispatch
from treerag.context.hooks import CLAUDE_EVENT_NAMES
from treerag.errors import ConfigError
from treerag.paths import state_dir

if TYPE_CHECKING:
    from anyio.abc import SocketListener, SocketStream, TaskGroup, TaskStatus

    from treerag.daemon.app import Daemon

__all__ = ["BODY_LIMIT", "HEAD_LIMIT", "LOOPBACK_HOSTS", "install", "read_token", "serve_http", "token_path"]

logger = logging.getLogger(__name__)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
HOOK_PATH = "/v1/hooks/"
HEAD_LIMIT = 16 << 10
BODY_LIMIT = 1 << 20
_LINGER_S = 1.0  # after a closing error, how long to drain what the client still sends
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            413: "Content Too Large", 431: "Request Header Fields Too Large", 501: "Not Implemented"}
_TOKEN_CHARS = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FD_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_JSON = {"Content-Type": "application/json"}


def token_path() -> Path:
    return state_dir() / "http.token"


def read_token(path: Path | None = None) -> str:
    """The bearer token stored in ``path`` (default :func:`token_path`); ConfigError if missing or empty."""
    path = token_path() if path is None else path
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ConfigError("no HTTP token yet; start the daemon with --http to create it", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the HTTP token: {exc}", source=str(path)) from exc
    if not token:
        raise ConfigError("the HTTP token file is empty", source=str(path))
    return token


def read_or_create_token(path: Path) -> str:
    """Read the token, or write a new one when the file is missing or empty; the file ends up 0600."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600), "r+", encoding="ascii") as fp:
        if (mode := os.fstat(fp.fileno()).st_mode & 0o777) != 0o600:
            os.fchmod(fp.fileno(), 0o600)
            logger.warning("HTTP token file %s had mode %o; set it to 0600", path, mode)
        token = fp.read().strip()
        if not token:
            token = secrets.token_urlsafe(32)
            fp.seek(0)
            fp.truncate()
            fp.write(token + "\n")
            logger.info("created the HTTP token file %s", path)
    return token


def install(daemon: Daemon) -> None:
    """When ``http.enabled``: check the host, read or create the token, add the service.

    Checked here, while the daemon is assembled, so a bad host stops start-up
    with one ConfigError line (exit 1): raised inside the root task group it
    would reach ``__main__`` wrapped in an ExceptionGroup.
    """
    config = daemon.full_config
    if config is None or not config.get("http.enabled"):
        return
    host, port = str(config.get("http.host")), int(config.get("http.port"))
    if host not in LOOPBACK_HOSTS:
        raise _fail(f"http.host {host!r} is not a loopback address; the HTTP endpoint serves only "
                    "127.0.0.1, ::1 or localhost", config, "http.host")
    try:
        token = read_or_create_token(token_path())
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read or create the HTTP token file {token_path()}: {exc}", config, "http.enabled") from exc

    async def service(d: Daemon, task_status: TaskStatus[None]) -> None:
        await serve_http(d, task_status, host=host, port=port, token=token)

    daemon.add_service(service)


def _fail(problem: str, config: Any, key: str) -> ConfigError:
    kind, _, where = str(config.source(key) if config is not None else "default").partition(":")
    source = {"env": where, "file": where, "flag": f"flag {where}"}.get(kind)
    err = ConfigError(problem, source=source, key=key)
    logger.error("HTTP endpoint not started: %s", err)
    return err


async def serve_http(daemon: Daemon, task_status: TaskStatus[None], *, host: str, port: int, token: str) -> None:
    """Serve until cancelled; raises ConfigError before ``started()`` if the port cannot be bound."""
    try:
        listener = await anyio.create_tcp_listener(local_host=host, local_port=port)
    except OSError as exc:
        raise _fail(f"cannot listen on {host} port {port}: {exc.strerror or exc}", daemon.full_config,
                    "http.port") from exc
    server = _Server(daemon, token)
    async with listener, anyio.create_task_group() as tg:
        for sub in listener.listeners:
            tg.start_soon(server.accept_loop, sub, tg)
        logger.info("HTTP endpoint on %s port %d (token in %s)", host, port, token_path())
        task_status.started()


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    headers: dict[str, str]
    length: int
    keep_alive: bool
    body: bytes = b""


class _HttpError(Exception):
    """A request answered with ``args[0]`` (the status), then the connection is closed."""


def _parse_head(head: bytes) -> _Request:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN_CHARS.fullmatch(parts[0]) or not parts[1].startswith("/") \
            or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _HttpError(400)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        key = name.lower()
        if not colon or not _TOKEN_CHARS.fullmatch(name) or (key in headers and key in ("content-length",
                                                                                         "authorization")):
            raise _HttpError(400)  # also obs-fold (a line starting with whitespace) and "Name :"
        value = value.strip(" \t")
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    length = headers.get("content-length", "0")
    if not (length.isascii() and length.isdigit()) or (parts[2] == "HTTP/1.1" and "host" not in headers):
        raise _HttpError(400)
    close = "close" in (t.strip().lower() for t in headers.get("connection", "").split(","))
    return _Request(parts[0], parts[1], headers, int(length), parts[2] == "HTTP/1.1" and not close)


async def _respond(stream: SocketStream, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                   *, close: bool = False) -> None:
    lines = [f"HTTP/1.1 {status} {_REASONS[status]}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if close:
        lines.append("Connection: close")
    await stream.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)  # one write: no Nagle stall


class _Server:
    def __init__(self, daemon: Daemon, token: str) -> None:
        self.daemon = daemon
        self._expected = token.encode()
        self.open = 0
        self._answered = daemon.metrics.counter("http.requests", "HTTP requests answered")
        self._refused = daemon.metrics.counter("http.unauthorized", "HTTP requests refused for a missing or wrong token")

    async def accept_loop(self, listener: SocketListener, tg: TaskGroup) -> None:
        """Accept forever; survive running out of file descriptors by backing off."""
        backoff = 0.05
        while True:
            try:
                stream = await listener.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError as exc:
                if exc.errno not in _FD_ERRNOS:
                    raise
                logger.warning("HTTP accept failed (%s); backing off %.2fs", exc.strerror, backoff)
                await anyio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            backoff = 0.05
            if self.open < self.daemon.config.max_connections:
                tg.start_soon(self.connection, stream)
            else:
                await stream.aclose()

    async def connection(self, stream: SocketStream) -> None:
        self.open += 1
        reader = BufferedByteReceiveStream(stream)
        try:
            while await self._serve_one(stream, reader):
                pass
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, anyio.IncompleteRead,
                ConnectionError):
            pass  # the client went away
        except Exception:
            logger.exception("HTTP connection handler failed")
        finally:
            self.open -= 1
            await stream.aclose()

    def _authorized(self, request: _Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("latin-1"), self._expected)
        if not ok:
            self._refused.inc()
        return ok

    async def _read(self, stream: SocketStream, reader: BufferedByteReceiveStream) -> _Request | None:
        """The next request, or None if it did not arrive within the read deadline."""
        with anyio.move_on_after(self.daemon.config.read_timeout_s):
            try:
                head = await reader.receive_until(b"\r\n\r\n", HEAD_LIMIT)
            except anyio.DelimiterNotFound:
                raise _HttpError(431) from None
            if len(head) > HEAD_LIMIT:  # it came in one read with the delimiter
                raise _HttpError(431)
            request = _parse_head(head)
            if "transfer-encoding" in request.headers or request.length > BODY_LIMIT:
                if not self._authorized(request):
                    raise _HttpError(401)
                raise _HttpError(501 if "transfer-encoding" in request.headers else 413)
            if request.length and request.headers.get("expect", "").lower() == "100-continue":
                await stream.send(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits 1 s for it otherwise
            request.body = await reader.receive_exactly(request.length) if request.length else b""
            return request
        return None

    async def _serve_one(self, stream: SocketStream, reader: BufferedByteReceiveStream) -> bool:
        """Answer one request; False when the connection is to be closed."""
        try:
            request = await self._read(stream, reader)
        except _HttpError as exc:
            status = exc.args[0]
            await _respond(stream, status, b"", {"WWW-Authenticate": "Bearer"} if status == 401 else {}, close=True)
            with anyio.move_on_after(_LINGER_S):  # drain, so closing does not reset before the client reads
                await stream.send_eof()
                while await stream.receive():
                    pass
            return False
        if request is None:
            return False
        started = time.perf_counter()
        status, body, headers, op = await self._route(request)
        await _respond(stream, status, body, headers, close=not request.keep_alive)
        elapsed = time.perf_counter() - started
        self._answered.inc()
        for name in ("http", f"http.{op}") if op else ("http",):
            self.daemon.latency.record(name, elapsed)
        return request.keep_alive

    async def _route(self, request: _Request) -> tuple[int, bytes, dict[str, str], str]:
        """``(status, body, headers, latency op)`` for an authorized, fully read request."""
        if not self._authorized(request):
            return 401, b"", {"WWW-Authenticate": "Bearer"}, ""
        path = request.target.partition("?")[0]
        if path.startswith(HOOK_PATH):
            event = path[len(HOOK_PATH):]
            if event not in CLAUDE_EVENT_NAMES:
                return 404, b"", {}, ""
            if request.method != "POST":
                return 405, b"", {"Allow": "POST"}, ""
            body = await self._hook(event, request.body)
            return 200, body, _JSON if body else {}, event
        if path not in ("/healthz", "/metrics"):
            return 404, b"", {}, ""
        if request.method != "GET":
            return 405, b"", {"Allow": "GET"}, ""
        if path == "/healthz":
            health = {"ok": True, "version": __version__, "pid": os.getpid()}
            return 200, json.dumps(health).encode(), _JSON, "healthz"
        return 200, _metrics_text(self.daemon).encode(), {"Content-Type": "text/plain; version=0.0.4"}, "metrics"

    async def _hook(self, event: str, body: bytes) -> bytes:
        """The hook output as JSON bytes, or b"" for nothing to add (also on any failure)."""
        try:
            payload = json.loads(body)
        except ValueError as exc:
            logger.info("HTTP hook %s: the body is not JSON (%s); answered with nothing", event, exc)
            return b""
        if not isinstance(payload, dict):
            logger.info("HTTP hook %s: the body is a JSON %s, not an object; answered with nothing", event,
                        type(payload).__name__)
            return b""
        daemon = self.daemon
        daemon.stats.in_flight += 1  # the shutdown grace period waits for hook answers too
        daemon.drained = anyio.Event() if daemon.drained.is_set() else daemon.drained
        try:
            reply = await dispatch(daemon, {"id": 0, "method": "hook", "params": {"event": event, "payload": payload}})
        except Exception:
            logger.exception("HTTP hook %s failed; answered with nothing", event)
            return b""
        finally:
            daemon.stats.in_flight -= 1
            if daemon.stats.in_flight == 0:
                daemon.drained.set()
        if "error" in reply:
            logger.info("HTTP hook %s failed (%s); answered with nothing", event, reply["error"]["message"])
            return b""
        result = reply.get("result")
        return json.dumps(result, ensure_ascii=False, separators=(",", ":")).encode() if result else b""


def _metrics_text(daemon: Daemon) -> str:
    """The registry's Prometheus text plus process gauges from the current metrics sample."""
    sample = daemon.metrics_sample()
    process = sample.get("process") or {}
    lines = [daemon.metrics.to_prometheus().rstrip("\n")]
    for name, help_text, value in [
        ("process_rss_bytes", "resident set size of the daemon", process.get("rss_bytes")),
        ("process_total_rss_bytes", "resident set size of the daemon and its workers", process.get("total_rss_bytes")),
        ("process_cpu_percent", "CPU use since the previous sample, percent of one core", process.get("cpu_percent")),
        ("process_open_fds", "open file descriptors of the daemon", process.get("num_fds")),
        ("process_threads", "threads of the daemon", process.get("num_threads")),
        ("uptime_seconds", "seconds since the daemon started", sample.get("uptime_s")),
        ("context_cache_hit_rate", "context cache hits over lookups", (sample.get("cache") or {}).get("hit_rate")),
    ]:
        if isinstance(value, int | float) and not isinstance(value, bool):
            lines += [f"# HELP treerag_{name} {help_text}", f"# TYPE treerag_{name} gauge", f"treerag_{name} {value}"]
    return "\n".join(line for line in lines if line) + "\n"
