"""A scripted stand-in for the Anthropic Messages API, for driving the real Claude Code CLI offline.

Start it, point the CLI at it with ``ANTHROPIC_BASE_URL``, and it answers
``POST /v1/messages`` the way the API does: server-sent events when the
request asks for ``"stream": true`` (message_start, content_block_start,
content_block_delta, content_block_stop, message_delta, message_stop), a
plain JSON message otherwise. Every request is recorded (method, path,
headers, parsed JSON body) so a test can assert on what the client sent.

The replies follow a script: a list of turns, each either a text reply
(a ``str``) or a tool call (a ``dict`` with ``name`` and ``input``, sent as
an ``input_json_delta`` with stop_reason ``tool_use``). Only the client's
main conversation consumes turns: a request counts as a turn when it
offers the model tools (side requests the CLI makes for itself, such as
a title or a quota probe, carry none) — see :meth:`FakeAnthropic.is_turn`.
When the script runs out, every further turn gets ``final_text``.

Anything else the client asks for (``count_tokens``, probes, unknown
paths) gets a harmless answer and is recorded in :attr:`unknown`.

    with FakeAnthropic([{"name": "Read", "input": {"file_path": p}}, "It adds lines."]) as api:
        env["ANTHROPIC_BASE_URL"] = api.base_url
        ...
        api.turn_requests[1]  # the body sent after the tool ran
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeAnthropic", "RecordedRequest", "Turn"]

Turn = str | dict[str, Any]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw: bytes = b""
    turn: int | None = None  # index into the script when this request consumed a turn
    reply: dict[str, Any] | None = field(default=None, repr=False)

    def text(self) -> str:
        """The body as one string, for substring assertions."""
        return self.raw.decode("utf-8", "replace")


class FakeAnthropic:
    """A local HTTP server on 127.0.0.1 (a free port) playing a scripted model."""

    def __init__(self, script: list[Turn] | None = None, *, final_text: str = "Done.") -> None:
        self.script: list[Turn] = list(script or [])
        self.final_text = final_text
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._turns = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-anthropic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what was asked --------------------------------------------------------------------

    @property
    def message_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and r.path.split("?")[0] == "/v1/messages"]

    @property
    def turn_requests(self) -> list[RecordedRequest]:
        """The main-conversation requests, in order: ``turn_requests[i]`` was answered by script turn ``i``."""
        with self._lock:
            return [r for r in self.requests if r.turn is not None]

    @property
    def unknown(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.reply is None and not r.path.startswith("/v1/messages")]

    def summary(self) -> str:
        """One line per request, for failure messages."""
        with self._lock:
            lines = []
            for r in self.requests:
                body = r.body if isinstance(r.body, dict) else {}
                tools = len(body.get("tools") or [])
                lines.append(
                    f"{r.method} {r.path} model={body.get('model')} stream={body.get('stream')} "
                    f"tools={tools} messages={len(body.get('messages') or [])} turn={r.turn} bytes={len(r.raw)}"
                )
            return "\n".join(lines) or "(no requests)"

    # --- how it answers --------------------------------------------------------------------

    @staticmethod
    def is_turn(body: dict[str, Any]) -> bool:
        """Whether a /v1/messages request is the main conversation (it offers tools) rather than a side query."""
        return bool(body.get("tools"))

    def _next_turn(self, body: dict[str, Any]) -> tuple[int | None, Turn]:
        with self._lock:
            if not self.is_turn(body):
                return None, self.final_text
            index = self._turns
            self._turns += 1
        return index, self.script[index] if index < len(self.script) else self.final_text

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)


def _message(model: str, turn: Turn) -> dict[str, Any]:
    """The complete assistant message for one turn (what a non-streaming request gets)."""
    if isinstance(turn, str):
        content: list[dict[str, Any]] = [{"type": "text", "text": turn}]
        stop = "end_turn"
    else:
        content = [{
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:24]}",
            "name": turn["name"],
            "input": turn.get("input", {}),
        }]
        stop = "tool_use"
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


def _sse(message: dict[str, Any]) -> bytes:
    """The message as the event stream the Messages API sends with ``"stream": true``."""
    events: list[tuple[str, dict[str, Any]]] = []
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    events.append(("message_start", {"type": "message_start", "message": start}))
    for i, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {"type": "text", "text": ""}}))
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": i,
                                                   "content_block": {**block, "input": {}}}))
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events.append(("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    events.append(("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                     "usage": {"output_tokens": message["usage"]["output_tokens"]}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAnthropic  # set on the subclass made per server
    protocol_version = "HTTP/1.1"
    timeout = 60  # an idle keep-alive connection cannot pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _read(self) -> RecordedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = RecordedRequest(self.command, self.path, dict(self.headers.items()), body, raw)
        self.fake._record(req)
        return req

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", f"req_{uuid.uuid4().hex[:24]}")
        if content_type == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
            self.wfile.flush()

    def do_POST(self) -> None:
        req = self._read()
        path = req.path.split("?")[0]
        body = req.body if isinstance(req.body, dict) else {}
        if path == "/v1/messages":
            req.turn, turn = self.fake._next_turn(body)
            message = _message(str(body.get("model") or "claude-fake"), turn)
            req.reply = message
            if body.get("stream"):
                self._send(200, _sse(message), "text/event-stream")
            else:
                self._send(200, json.dumps(message).encode())
        elif path == "/v1/messages/count_tokens":
            req.reply = {"input_tokens": max(1, len(req.raw) // 4)}
            self._send(200, json.dumps(req.reply).encode())
        else:
            self._send(404, json.dumps({"type": "error", "error": {"type": "not_found_error",
                                                                   "message": f"no route {path}"}}).encode())

    def _not_found(self) -> None:
        """Probes and anything unexpected (the CLI sends ``HEAD /`` at start-up): recorded, then a 404."""
        self._read()
        self._send(404, json.dumps({"type": "error", "error": {"type": "not_found_error",
                                                               "message": "not found"}}).encode())

    do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_found
