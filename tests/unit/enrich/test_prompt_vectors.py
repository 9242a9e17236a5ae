from __future__ import annotations

import time

import anyio

from tests.fakes.openai_server import FakeOpenAI, Reply
from treerag.enrich.prompt_vectors import PromptEmbedder
from treerag.enrich.providers.openai import OpenAIEmbeddingProvider


def test_deadline_and_breaker(fake_openai: FakeOpenAI) -> None:
    now = [0.0]
    provider = OpenAIEmbeddingProvider(fake_openai.base_url, "e", "test-token", timeout_s=2.0, max_attempts=1)
    embedder = PromptEmbedder(provider, timeout_s=0.2, failures_to_open=2, open_for_s=60, clock=lambda: now[0])

    async def main() -> None:
        assert len(await embedder.embed("hello") or []) == 16
        fake_openai.script(Reply(delay_s=1.0), 500)
        started = time.monotonic()
        assert await embedder.embed("slow") is None
        assert time.monotonic() - started < 0.6  # the deadline, not the server, decides
        assert await embedder.embed("error") is None
        assert embedder.is_open
        sent = len(fake_openai.requests)
        assert await embedder.embed("skipped") is None and len(fake_openai.requests) == sent
        now[0] = 61.0
        assert await embedder.embed("back") is not None

    anyio.run(main)
    assert embedder.skipped == 1
