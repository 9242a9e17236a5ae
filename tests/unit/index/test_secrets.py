"""Secret detection by name and by content, and the code it must leave alone.

Fake tokens are assembled at run time so this file does not itself look like
it leaks credentials to a scanner.
"""

from __future__ import annotations

import pytest

from treerag.index.secrets import is_secret_path, looks_like_secret_content


@pytest.mark.parametrize(
    "rel",
    [
        pytest.param(".env", id="dotenv"),
        pytest.param("services/api/.env", id="nested-dotenv"),
        pytest.param(".env.local", id="dotenv-local"),
        pytest.param(".env.production", id="dotenv-production"),
        pytest.param("deploy/prod.env", id="env-file"),
        pytest.param(".envrc", id="direnv"),
        pytest.param("id_rsa", id="ssh-rsa"),
        pytest.param("keys/id_ed25519", id="ssh-ed25519"),
        pytest.param("certs/server.pem", id="pem"),
        pytest.param("certs/server.key", id="key"),
        pytest.param("signing/release.p12", id="p12"),
        pytest.param("android/release.keystore", id="keystore"),
        pytest.param("java/trust.jks", id="jks"),
        pytest.param("vault.kdbx", id="keepass"),
        pytest.param(".npmrc", id="npmrc"),
        pytest.param(".pypirc", id="pypirc"),
        pytest.param(".netrc", id="netrc"),
        pytest.param(".htpasswd", id="htpasswd"),
        pytest.param(".git-credentials", id="git-credentials"),
        pytest.param("credentials", id="credentials"),
        pytest.param("config/credentials.json", id="credentials-json"),
        pytest.param("home/.aws/credentials", id="aws-credentials"),
        pytest.param("home/.docker/config.json", id="docker-config"),
        pytest.param("gcp/service-account-prod.json", id="service-account"),
        pytest.param("k8s/db-secret.yaml", id="secret-yaml"),
        pytest.param("client_secret.json", id="client-secret-json"),
        pytest.param("Secrets.toml", id="secret-toml-any-case"),
        pytest.param("home/.ssh/known_hosts", id="under-ssh"),
    ],
)
def test_secret_paths(rel: str) -> None:
    assert is_secret_path(rel)


@pytest.mark.parametrize(
    "rel",
    [
        pytest.param(".env.example", id="dotenv-example"),
        pytest.param(".env.sample", id="dotenv-sample"),
        pytest.param(".env.template", id="dotenv-template"),
        pytest.param("config/credentials.json.example", id="credentials-example"),
        pytest.param("id_rsa.pub", id="ssh-public-key"),
        pytest.param("src/secrets.py", id="code-named-secret"),
        pytest.param("src/credentials.py", id="code-named-credentials"),
        pytest.param("src/keyboard.ts", id="key-in-name"),
        pytest.param("docs/environment.md", id="env-in-name"),
        pytest.param("config/settings.json", id="plain-json"),
        pytest.param(".docker/Dockerfile", id="docker-other-file"),
        pytest.param("aws/credentials.md", id="credentials-doc"),
        pytest.param("src/environment.ts", id="environment-module"),
    ],
)
def test_ordinary_paths(rel: str) -> None:
    assert not is_secret_path(rel)


_BODY = "MIIEowIBAAKCAQEAx4Pq1Sx1yvVvBdU3kQTQnZ2wQ5n6nm0e0fY4y6yQ9wD3fD8y"
_PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + _BODY + "\n-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(_PEM, id="pem-rsa"),
        pytest.param(_PEM.replace("RSA ", ""), id="pem-pkcs8"),
        pytest.param(_PEM.replace("RSA", "OPENSSH"), id="pem-openssh"),
        pytest.param(
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
            "DEK-Info: AES-128-CBC,3F1A\n\n" + _BODY + "\n",
            id="pem-encrypted-with-headers",
        ),
        pytest.param(
            '{"private_key": "-----BEGIN PRIVATE KEY-----\\n' + _BODY + '\\n"}',
            id="pem-escaped-in-json",
        ),
        pytest.param("[default]\nkey = " + "AKIA" + "Q3EGRX5MZ7WXYK2B\n", id="aws-key-id"),
        pytest.param("token: " + "ghp_" + "a1B2c3D4" * 4 + "e5F6", id="github-classic"),
        pytest.param("GH=" + "github_pat_" + "11ABCDEFG0" * 8, id="github-fine-grained"),
        pytest.param(
            "SLACK=" + "xoxb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx",
            id="slack-bot",
        ),
        pytest.param("OPENAI_API_KEY=" + "sk-" + "T3BlbkFJ9xQ2" * 4, id="sk-legacy"),
        pytest.param(
            "key = '" + "sk-" + "proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z_-" * 3 + "'",
            id="sk-project",
        ),
        pytest.param("x = " + "sk-" + "ant-api03-" + "Zx9Yw8Vu7Ts6Rq5Po4" * 5, id="sk-anthropic"),
        pytest.param("STRIPE=" + "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc", id="stripe-live"),
    ],
)
def test_secret_content(text: str) -> None:
    assert looks_like_secret_content(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            'PEM_HEADER = b"-----BEGIN RSA PRIVATE KEY-----"\n'
            "def load(data):\n    return data.startswith(PEM_HEADER)\n",
            id="pem-header-constant-in-parser",
        ),
        pytest.param(
            "-----BEGIN CERTIFICATE-----\n" + _BODY + "\n-----END CERTIFICATE-----\n",
            id="certificate-is-public",
        ),
        pytest.param(
            "-----BEGIN PUBLIC KEY-----\n" + _BODY + "\n",
            id="public-key",
        ),
        pytest.param("aws_access_key_id = " + "AKIA" + "IOSFODNN7EXAMPLE", id="aws-docs-example"),
        pytest.param("ID = 'X" + "AKIA" + "Q3EGRX5MZ7WXYK2B'", id="aws-inside-longer-word"),
        pytest.param("import sklearn\nfrom sk-learn import x\n", id="sk-learn"),
        pytest.param(
            '<div class="sk-spinner sk-spinner-wave-with-a-long-modifier-name">',
            id="css-class",
        ),
        pytest.param("slug = 'sk-" + "this-is-a-very-long-readable-slug-of-words'", id="sk-slug"),
        pytest.param("token = 'xoxb-your-token-here'", id="slack-placeholder"),
        pytest.param("ghp_short = 1\nprefix = 'ghp_'\n", id="github-prefix-only"),
        pytest.param(
            "sha = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n"
            "uuid = '123e4567-e89b-12d3-a456-426614174000'\n",
            id="hashes-and-uuids",
        ),
        pytest.param(
            "import os\n\n\ndef get_key(name: str) -> str:\n"
            '    """Read an API key from the environment."""\n'
            '    return os.environ["OPENAI_API_KEY"]\n',
            id="ordinary-code",
        ),
        pytest.param("", id="empty"),
    ],
)
def test_ordinary_content(text: str) -> None:
    assert not looks_like_secret_content(text.encode())


def test_content_is_bytes_not_text() -> None:
    head = b"\xff\xfe garbage \x00\x01" + _PEM.encode()

    assert looks_like_secret_content(head)
