"""A local OpenAI-compatible HTTP server with scripted replies: the wire contract of the enrichment providers.

Started on 127.0.0.1 and an ephemeral port in a thread (stdlib
``http.server``), it answers ``POST /v1/chat/completions`` and
``POST /v1/embeddings`` (also without the ``/v1`` prefix, which it records)
after checking ``Authorization: Bearer <token>``; every request is recorded
in :attr:`FakeOpenAI.requests` (method, path, headers, parsed JSON body and
raw body) so a test can assert on exactly what left the machine.

The wire format (what ``treerag.enrich.providers.openai`` sends and expects)::

    POST {base}/v1/chat/completions
    Authorization: Bearer <key>            (omitted when the key is empty)
    {"model": M, "temperature": 0, "response_format": {"type": "json_object"},
     "messages": [{"role": "system", "content": <instructions>},
                  {"role": "user", "content": <JSON document>}]}

    the LAST user message is the JSON document
        {"nodes": [{"key": K, "path": P, "kind": "file"|"function"|…, "language": L,
                    "text": <excerpt>, "hint": <local summary or "">}, …]}

    reply: a chat completion whose choices[0].message.content is the JSON string
        {"summaries": [{"key": K, "summary": "<one line>"}, …]}
    with "usage": {"prompt_tokens": …, "completion_tokens": …, "total_tokens": …}

    POST {base}/v1/embeddings
    {"model": M, "input": [text, …]}
    reply: {"object": "list", "data": [{"object": "embedding", "index": i, "embedding": [float, …]}, …],
            "model": M, "usage": {"prompt_tokens": …, "total_tokens": …}}

Default answers are deterministic: the summary of node K is ``"summary of K"``
(or :attr:`FakeOpenAI.summary_for` of the node's dict, when a test sets it);
:attr:`FakeOpenAI.embedding_for` likewise replaces the embedding of a text;
an embedding is a bag-of-words hashing vector of :attr:`FakeOpenAI.dim`
dimensions (texts sharing words point the same way), L2-normalised.

:meth:`FakeOpenAI.script` queues replies consumed one per request, in order,
before the defaults resume:

* an ``int`` status (``429``, ``500``, ``401``…) → that status with an OpenAI error body;
* :class:`Reply` for everything else: ``status``, ``headers`` (``Retry-After``),
  ``delay_s`` (sleep before answering: longer than the client timeout = a timeout),
  ``content`` (the assistant message content verbatim: malformed JSON, wrong keys…),
  ``summaries`` (a list replacing the default summaries), ``body`` (raw bytes,
  e.g. not JSON at all), ``drop`` (close the connection without answering),
  ``embeddings`` (the vectors to return).

    with running_fake_openai() as api:
        api.script(Reply(status=429, headers={"Retry-After": "0.1"}))
        provider = OpenAISummaryProvider(api.base_url, "m", api_key=api.token, timeout_s=2)
        ...
        api.requests[-1].body["messages"][-1]["content"]
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "RecordedRequest", "Reply", "bag_of_words_vector", "running_fake_openai"]

DEFAULT_TOKEN = "test-token"
_WORDS = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Reply:
    """One scripted answer (see the module docstring)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content: str | None = None
    summaries: list[Any] | None = None
    body: bytes | None = None
    drop: bool = False
    embeddings: list[list[float]] | None = None


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any  # parsed JSON, or None when the body was not JSON

    @property
    def nodes(self) -> list[dict[str, Any]]:
        """The nodes a chat-completions request carried (parsed from its last user message)."""
        users = [m for m in self.body.get("messages", []) if m.get("role") == "user"]
        return list(json.loads(users[-1]["content"])["nodes"]) if users else []


def bag_of_words_vector(text: str, dim: int) -> list[float]:
    """A deterministic unit vector: each lower-cased word adds ±1 to a hashed dimension."""
    vec = [0.0] * dim
    for word in _WORDS.findall(text.lower()):
        h = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vec[int.from_bytes(h[:4], "little") % dim] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vec))
    if norm == 0.0:
        vec[0] = 1.0
        return vec
    return [x / norm for x in vec]


class FakeOpenAI:
    """The server; use :func:`running_fake_openai` or ``with FakeOpenAI() as api``."""

    def __init__(self, *, token: str | None = DEFAULT_TOKEN, dim: int = 16) -> None:
        self.token = token  # None: accept any (or no) Authorization header
        self.dim = dim
        self.summary_for: Any = None  # node dict -> summary text, replacing "summary of K"
        self.embedding_for: Any = None  # text -> vector, replacing the bag-of-words vector
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------
    def script(self, *replies: Reply | int) -> None:
        with self._lock:
            for reply in replies:
                self._script.append(Reply(status=reply) if isinstance(reply, int) else reply)

    @property
    def pending(self) -> int:
        """Scripted replies not consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (the form OpenAI clients are usually given)."""
        return f"{self.root_url}/v1"

    @property
    def root_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def bodies_text(self) -> str:
        """Every recorded request body, raw, joined: for "this never left the machine" assertions."""
        return "\n".join(r.raw.decode("utf-8", "replace") for r in self.requests)

    def start(self) -> FakeOpenAI:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answering -------------------------------------------------------------
    def _next(self) -> Reply | None:
        with self._lock:
            return self._script.popleft() if self._script else None

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def chat_reply(self, body: Any, reply: Reply, raw_len: int) -> dict[str, Any]:
        if reply.content is not None:
            content = reply.content
        else:
            if reply.summaries is not None:
                summaries = reply.summaries
            else:
                users = [m for m in body.get("messages", []) if m.get("role") == "user"]
                nodes = json.loads(users[-1]["content"])["nodes"]
                make = self.summary_for or (lambda n: f"summary of {n['key']}")
                summaries = [{"key": n["key"], "summary": make(n)} for n in nodes]
            content = json.dumps({"summaries": summaries})
        prompt_tokens, completion_tokens = max(1, raw_len // 4), max(1, len(content) // 4)
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def embeddings_reply(self, body: Any, reply: Reply) -> dict[str, Any]:
        inputs = body.get("input", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        make = self.embedding_for or (lambda text: bag_of_words_vector(text, self.dim))
        vectors = reply.embeddings if reply.embeddings is not None else [make(text) for text in inputs]
        tokens = sum(len(t) for t in inputs) // 4
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": body.get("model", ""),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _error_body(status: int) -> bytes:
    kinds = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}
    err = {"message": f"fake error {status}", "type": kinds.get(status, "server_error"), "code": status}
    return json.dumps({"error": err}).encode()


def _handler_for(api: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            api._record(RecordedRequest("POST", self.path, dict(self.headers.items()), raw, body))
            reply = api._next() or Reply()
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.drop:
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if api.token is not None and self.headers.get("Authorization") != f"Bearer {api.token}":
                return self._send(401, _error_body(401))
            if reply.status != 200:
                return self._send(reply.status, reply.body or _error_body(reply.status), reply.headers)
            if reply.body is not None:
                return self._send(200, reply.body, reply.headers)
            path = self.path.split("?", 1)[0]
            if path.endswith("/chat/completions") and isinstance(body, dict):
                out = api.chat_reply(body, reply, len(raw))
            elif path.endswith("/embeddings") and isinstance(body, dict):
                out = api.embeddings_reply(body, reply)
            else:
                return self._send(404, _error_body(404))
            self._send(200, json.dumps(out).encode(), reply.headers)

        def _send(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout) before we answered
                self.close_connection = True

    return Handler


@contextlib.contextmanager
def running_fake_openai(*, token: str | None = DEFAULT_TOKEN, dim: int = 16) -> Iterator[FakeOpenAI]:
    """A started :class:`FakeOpenAI`, stopped on exit."""
    with FakeOpenAI(token=token, dim=dim) as api:
        yield api
