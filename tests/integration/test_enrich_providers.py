"""The openai providers against a real local OpenAI-compatible HTTP server with scripted replies."""

from __future__ import annotations

import os
import time

import pytest

from tests.fakes.openai_server import FakeOpenAI, Reply, running_fake_openai
from treerag.config import EnrichConfig
from treerag.enrich.providers import make_embedding_provider, make_summary_provider
from treerag.enrich.providers.base import Node, ProviderError, Usage
from treerag.enrich.providers.openai import OpenAIEmbeddingProvider, OpenAISummaryProvider
from treerag.errors import ConfigError

NODES = [Node("a.py", "", "file", "python", "def a(): pass"), Node("b.py", "B.run", "function", "python", "x")]


def provider(api: FakeOpenAI, *, timeout_s: float = 2.0, sleeps: list[float] | None = None) -> OpenAISummaryProvider:
    record = sleeps.append if sleeps is not None else (lambda s: None)
    return OpenAISummaryProvider(api.base_url, "m", api.token or "", timeout_s, sleep=record)


def test_happy_path_sends_the_contract_and_counts_usage(fake_openai: FakeOpenAI) -> None:
    usage = Usage()
    got = provider(fake_openai).summarise(NODES, usage)
    assert [(s.key, s.summary) for s in got] == [("a.py", "summary of a.py"), ("b.py::B.run", "summary of b.py::B.run")]
    req = fake_openai.requests[-1]
    assert req.path == "/v1/chat/completions"
    assert req.headers["Authorization"] == "Bearer test-token"
    assert req.body["response_format"] == {"type": "json_object"} and req.body["temperature"] == 0
    assert [n["key"] for n in req.nodes] == ["a.py", "b.py::B.run"]
    assert usage.requests == 1 and usage.retries == 0 and usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert len(usage.latencies_s) == 1


@pytest.mark.parametrize("suffix", [pytest.param("", id="root"), pytest.param("/", id="root-slash"),
                                    pytest.param("/v1", id="v1"), pytest.param("/v1/", id="v1-slash")])
def test_base_url_with_and_without_v1(fake_openai: FakeOpenAI, suffix: str) -> None:
    p = OpenAISummaryProvider(fake_openai.root_url + suffix, "m", "test-token")
    assert len(p.summarise(NODES[:1], Usage())) == 1
    assert fake_openai.requests[-1].path == "/v1/chat/completions"


def test_429_then_success_honours_retry_after(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(status=429, headers={"Retry-After": "1.5"}))
    sleeps: list[float] = []
    usage = Usage()
    assert len(provider(fake_openai, sleeps=sleeps).summarise(NODES, usage)) == 2
    assert sleeps == [1.5] and usage.retries == 1 and usage.requests == 2


def test_500s_until_giving_up_is_transient(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(500, 502, 503, 500)
    sleeps: list[float] = []
    usage = Usage()
    with pytest.raises(ProviderError) as err:
        provider(fake_openai, sleeps=sleeps).summarise(NODES, usage)
    assert err.value.transient and err.value.status == 503
    assert usage.requests == 3 and usage.retries == 2 and len(sleeps) == 2
    assert all(0 < s <= 8 for s in sleeps) and fake_openai.pending == 1


def test_401_is_permanent_and_not_retried(fake_openai: FakeOpenAI) -> None:
    usage = Usage()
    with pytest.raises(ProviderError) as err:
        OpenAISummaryProvider(fake_openai.base_url, "m", "wrong").summarise(NODES, usage)
    assert not err.value.transient and err.value.status == 401 and usage.requests == 1


def test_timeout_is_bounded(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(*[Reply(delay_s=1.0)] * 3)
    usage = Usage()
    started = time.monotonic()
    with pytest.raises(ProviderError) as err:
        provider(fake_openai, timeout_s=0.2).summarise(NODES, usage)
    assert err.value.transient and "timed out" in str(err.value)
    assert time.monotonic() - started < 2.0 and usage.requests == 3


def test_connection_drop_then_success(fake_openai: FakeOpenAI) -> None:
    fake_openai.script(Reply(drop=True))
    usage = Usage()
    assert len(provider(fake_openai).summarise(NODES, usage)) == 2 and usage.retries == 1


@pytest.mark.parametrize("reply", [
    pytest.param(Reply(content="{not json"), id="malformed-content"),
    pytest.param(Reply(content='{"summaries": "nope"}'), id="not-a-list"),
    pytest.param(Reply(body=b"<html>oops</html>"), id="non-json-body"),
    pytest.param(Reply(summaries=[{"key": "zzz", "summary": "s"}]), id="only-unknown-keys"),
])  # fmt: skip
def test_malformed_replies_are_transient_errors(fake_openai: FakeOpenAI, reply: Reply) -> None:
    fake_openai.script(reply)
    with pytest.raises(ProviderError) as err:
        provider(fake_openai).summarise(NODES, Usage())
    assert err.value.transient


def test_partial_and_unknown_keys_keep_the_valid_ones(fake_openai: FakeOpenAI) -> None:
    long = "word " * 100
    fake_openai.script(Reply(summaries=[
        {"key": "zzz", "summary": "unknown"}, {"key": "a.py", "summary": f"  {long}\n"},
        {"key": "a.py", "summary": "second answer ignored"}, {"key": "b.py::B.run", "summary": 3}, "junk",
    ]))  # fmt: skip
    got = provider(fake_openai).summarise(NODES, Usage())
    assert [s.key for s in got] == ["a.py"]
    assert len(got[0].summary) <= 200 and "\n" not in got[0].summary and got[0].summary.startswith("word word")


def test_embeddings_happy_path_and_similarity() -> None:
    with running_fake_openai(dim=256) as fake_openai:
        p = OpenAIEmbeddingProvider(fake_openai.base_url, "e", "test-token")
        usage = Usage()
        vecs = p.embed(["parse the config file", "parse config", "render widgets"], usage)
    assert len(vecs) == 3 and {len(v) for v in vecs} == {256}
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(vecs[0], vecs[1]) > dot(vecs[0], vecs[2])
    assert fake_openai.requests[-1].path == "/v1/embeddings" and usage.requests == 1


@pytest.mark.parametrize("vectors", [pytest.param([[1.0, 0.0]], id="count"),
                                     pytest.param([[1.0, 0.0], [1.0]], id="dimension")])
def test_embeddings_count_and_dimension_mismatch(fake_openai: FakeOpenAI, vectors: list[list[float]]) -> None:
    fake_openai.script(Reply(embeddings=vectors))
    with pytest.raises(ProviderError):
        OpenAIEmbeddingProvider(fake_openai.base_url, "e", "test-token").embed(["a", "b"], Usage())


def test_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert make_summary_provider(EnrichConfig()) is None
    assert make_embedding_provider(EnrichConfig()) is None
    with pytest.raises(ConfigError, match="unknown provider 'gpt'"):
        make_summary_provider(EnrichConfig(provider="gpt", model="m"))
    monkeypatch.delenv("TR_TEST_KEY", raising=False)
    remote = EnrichConfig(provider="openai", model="m", base_url="https://api.example.com/v1", api_key_env="TR_TEST_KEY")
    with pytest.raises(ConfigError, match="TR_TEST_KEY is not set"):
        make_summary_provider(remote)
    local = EnrichConfig(provider="openai", model="m", base_url="http://localhost:11434/v1", api_key_env="TR_TEST_KEY")
    assert make_summary_provider(local) is not None
    monkeypatch.setenv("TR_TEST_KEY", "k")
    assert make_summary_provider(remote) is not None
    assert "TR_TEST_KEY" in os.environ


def test_local_model_needs_sentence_transformers() -> None:
    pytest.importorskip("sentence_transformers")
