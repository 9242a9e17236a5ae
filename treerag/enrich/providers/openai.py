"""Summaries and embeddings from any OpenAI-compatible endpoint (OpenAI, Ollama, llama.cpp server) over http.client.

The wire format is documented (and served for tests) in tests/fakes/openai_server.py:
nodes go as a JSON document in the last user message, ``response_format`` is
``json_object``, the reply content is ``{"summaries": [{"key", "summary"}]}``.
A batch is retried on 429/5xx/timeouts/refused connections with exponential
backoff and jitter (``Retry-After`` honoured, capped) for at most
``max_attempts`` requests, then fails with ``ProviderError(transient=True)``;
400/401/403/404 fail at once with ``transient=False``.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from treerag.enrich.providers.base import Node, ProviderError, Summary, Usage

__all__ = ["OpenAIEmbeddingProvider", "OpenAISummaryProvider", "normalise_base_url"]

logger = logging.getLogger(__name__)

MAX_SUMMARY_CHARS = 200
SYSTEM_PROMPT = (
    "You summarise source code for a code search index. The user message is a JSON document "
    '{"nodes": [{"key", "path", "kind", "language", "text", "hint"}]}. For every node write ONE line '
    f"(at most {MAX_SUMMARY_CHARS} characters) saying what it does or is for, not how; plain text, no "
    'markdown. "hint" is a rough local summary you may improve. Answer with a JSON object '
    '{"summaries": [{"key": <the node key>, "summary": <one line>}]} and nothing else.'
)
_PERMANENT = frozenset({400, 401, 403, 404, 422})
_BACKOFF_BASE_S = 0.5
_BACKOFF_CAP_S = 8.0


def normalise_base_url(base_url: str) -> str:
    """``http://host:port`` or ``http://host:port/v1`` (trailing slash or not) → ``…/v1``."""
    url = base_url.strip().rstrip("/")
    if not url:
        url = "https://api.openai.com/v1"
    return url if url.endswith("/v1") else url + "/v1"


class _Client:
    """One JSON POST with retries; shared by the summary and embedding providers."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout_s: float,
        max_attempts: int,
        sleep: Callable[[float], None],
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        parts = urllib.parse.urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"enrich.base_url must be an http(s) URL, not {base_url!r}")
        self._parts = parts
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep

    def post(self, endpoint: str, payload: dict[str, Any], usage: Usage) -> Any:
        data = json.dumps(payload).encode()
        last: ProviderError | None = None
        for attempt in range(self.max_attempts):
            if attempt:
                usage.retries += 1
            retry_after: float | None = None
            try:
                status, headers, body = self._once(endpoint, data, usage)
            except (TimeoutError, socket.timeout) as exc:
                last = ProviderError(f"{self.base_url}: timed out after {self.timeout_s:g}s", transient=True)
                logger.debug("attempt %d: %s", attempt + 1, exc)
            except (OSError, http.client.HTTPException) as exc:
                last = ProviderError(f"{self.base_url}: connection failed: {exc}", transient=True)
            else:
                if status == 200:
                    try:
                        return json.loads(body)
                    except ValueError:
                        raise ProviderError(
                            f"{self.base_url}: the reply is not JSON", transient=True, status=status
                        ) from None
                detail = _error_detail(body)
                if status in _PERMANENT:
                    raise ProviderError(f"{self.base_url}: HTTP {status}{detail}", transient=False, status=status)
                last = ProviderError(f"{self.base_url}: HTTP {status}{detail}", transient=True, status=status)
                retry_after = _retry_after(headers.get("retry-after"))
            if attempt + 1 < self.max_attempts:
                delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2**attempt) * (0.5 + random.random() / 2)
                if retry_after is not None:
                    delay = min(_BACKOFF_CAP_S, retry_after)
                self._sleep(delay)
        assert last is not None
        raise last

    def _once(self, endpoint: str, data: bytes, usage: Usage) -> tuple[int, dict[str, str], bytes]:
        cls = http.client.HTTPSConnection if self._parts.scheme == "https" else http.client.HTTPConnection
        conn = cls(self._parts.hostname, self._parts.port, timeout=self.timeout_s)  # type: ignore[arg-type]
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        started = time.monotonic()
        usage.requests += 1
        try:
            conn.request("POST", self._parts.path + endpoint, body=data, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            usage.latencies_s.append(time.monotonic() - started)
            conn.close()


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _error_detail(body: bytes) -> str:
    try:
        message = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f": {str(message)[:200]}"


def _add_usage(usage: Usage, reply: Any) -> None:
    block = reply.get("usage") if isinstance(reply, dict) else None
    if isinstance(block, dict):
        usage.prompt_tokens += int(block.get("prompt_tokens") or 0)
        usage.completion_tokens += int(block.get("completion_tokens") or 0)


def _clean(summary: str) -> str:
    line = " ".join(summary.split())
    return line if len(line) <= MAX_SUMMARY_CHARS else line[: MAX_SUMMARY_CHARS - 1].rstrip() + "…"


class _Endpoint:
    """What both providers share: the model name and a retrying client for one base URL."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout_s: float = 30.0,
        *,
        max_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.model = model
        self._client = _Client(base_url, api_key, timeout_s, max_attempts, sleep)

    @property
    def base_url(self) -> str:
        return self._client.base_url


class OpenAISummaryProvider(_Endpoint):
    """SummaryProvider over ``POST {base_url}/chat/completions``, several nodes per request."""

    def summarise(self, nodes: list[Node], usage: Usage) -> list[Summary]:
        if not nodes:
            return []
        doc = {"nodes": [
            {"key": n.key, "path": n.path, "kind": n.kind, "language": n.language, "text": n.text, "hint": n.hint}
            for n in nodes
        ]}  # fmt: skip
        payload = {
            "model": self.model,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": json.dumps(doc, ensure_ascii=False)},
            ],
        }
        reply = self._client.post("/chat/completions", payload, usage)
        _add_usage(usage, reply)
        summaries = _parse_summaries(reply, {n.key for n in nodes})
        if not summaries:
            raise ProviderError(f"{self.base_url}: no valid summary in the reply", transient=True)
        return summaries


def _parse_summaries(reply: Any, keys: set[str]) -> list[Summary]:
    """Valid summaries for known keys, first answer per key wins; anything malformed is dropped."""
    try:
        content = reply["choices"][0]["message"]["content"]
        doc = json.loads(content)
    except (KeyError, IndexError, TypeError, ValueError):
        return []
    items = doc.get("summaries") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        return []
    out: dict[str, Summary] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        key, text = item.get("key"), item.get("summary")
        if isinstance(key, str) and key in keys and key not in out and isinstance(text, str) and text.strip():
            out[key] = Summary(key, _clean(text))
    return list(out.values())


class OpenAIEmbeddingProvider(_Endpoint):
    """EmbeddingProvider over ``POST {base_url}/embeddings``: one vector per text, same dimension."""

    def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        if not texts:
            return []
        reply = self._client.post("/embeddings", {"model": self.model, "input": texts}, usage)
        _add_usage(usage, reply)
        try:
            data = sorted(reply["data"], key=lambda d: d.get("index", 0))
            vectors = [[float(x) for x in d["embedding"]] for d in data]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ProviderError(f"{self._client.base_url}: malformed embeddings reply", transient=True) from None
        if len(vectors) != len(texts):
            raise ProviderError(
                f"{self._client.base_url}: {len(vectors)} embeddings for {len(texts)} texts", transient=True
            )
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or 0 in dims:
            raise ProviderError(f"{self._client.base_url}: embeddings of unequal dimensions", transient=True)
        return vectors
