from __future__ import annotations

import pytest

from tests.fakes.openai_server import FakeOpenAI
from treerag.config import EnrichConfig
from treerag.enrich.privacy import Privacy, describe
from treerag.enrich.providers.base import Node, Usage
from treerag.enrich.providers.openai import OpenAISummaryProvider

PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEowIBAAKCAQEA" * 5 + "\n-----END RSA PRIVATE KEY-----\n"
AWS = "AKIAIOSFODNN7REALKEY"


@pytest.mark.parametrize(("path", "ok"), [
    pytest.param("src/app.py", True, id="plain"),
    pytest.param(".env", False, id="dotenv"),
    pytest.param("deploy/id_rsa", False, id="ssh-key"),
    pytest.param("certs/server.pem", False, id="pem"),
    pytest.param("vendor/lib/x.py", False, id="denied-deep"),
    pytest.param("src/internal/secret_algo.py", False, id="denied-glob"),
])  # fmt: skip
def test_may_send(path: str, ok: bool) -> None:
    privacy = Privacy(EnrichConfig(deny=("vendor/**", "**/internal/**")))
    assert privacy.may_send(path) is ok


def test_allow_restricts() -> None:
    privacy = Privacy(EnrichConfig(allow=("src/**",)))
    assert privacy.may_send("src/a/b.py") and not privacy.may_send("docs/x.md")


def test_redact_and_is_secret() -> None:
    privacy = Privacy(EnrichConfig())
    text = f"import os\nKEY = '{AWS}'\n{PEM}def f(): pass\n"
    red = privacy.redact(text)
    assert AWS not in red and "BEGIN RSA" not in red and "MIIE" not in red
    assert "import os" in red and "def f(): pass" in red and "[redacted]" in red
    assert privacy.is_secret("a.py", PEM) and privacy.is_secret(".env", "X=1") and not privacy.is_secret("a.py", "x")


def test_secrets_and_denied_files_never_reach_the_server(fake_openai: FakeOpenAI) -> None:
    files = {
        ".env": "OPENAI_API_KEY=sk-envfilesecret",
        "keys/deploy.py": f"KEY = '{AWS}'\n{PEM}def deploy(): pass\n",
        "vendor/big.py": "VENDORED_MARKER = 1\n",
        "src/app.py": "def main(): print('hello')\n",
    }
    privacy = Privacy(EnrichConfig(deny=("vendor/**",)))
    nodes = [Node(p, "", "file", "python", ex) for p, t in files.items() if (ex := privacy.excerpt(p, t)) is not None]
    OpenAISummaryProvider(fake_openai.base_url, "m", "test-token").summarise(nodes, Usage())
    sent = fake_openai.bodies_text()
    assert "def main()" in sent and "def deploy()" in sent  # the allowed files did go
    for leak in ("sk-envfilesecret", ".env", AWS, "BEGIN RSA", "MIIEowIBAAKCAQEA", "VENDORED_MARKER", "vendor/"):
        assert leak not in sent


def test_describe() -> None:
    line = describe(EnrichConfig(provider="openai", model="gpt-x", base_url="http://h/v1", deny=("vendor/**",)),
                    "/p", ["a.py", ".env", "vendor/x.py"])
    assert "model gpt-x at http://h/v1 for project /p: will send excerpts of 1 files" in line
    assert "deny vendor/**" in line
