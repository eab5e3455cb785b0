"""No signing key that was ever published opens Mercator.

The services once defaulted to dev keys written in the source, and docker-compose.yml fell back to the same
strings: a token signed with the public default and `roles: ["admin"]` listed the users and made API keys.
Now a service refuses to start with no key, a short one or a published one; compose refuses to start without
its secrets; `make run` makes its own keys per install and prints a short-lived manager's token, not ops."""

import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from mercator.common.auth import read_token
from mercator.common.devrun import Launcher, RunSettings, install_secrets
from mercator.common.settings import KNOWN_SECRETS, ServiceSettings, WeakSecret
from mercator.common.testing.api import client
from mercator.common.testing.plugin import need

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = "mercator-dev-secret-change-me-0123456789"
PUBLISHED_PUBLIC = "mercator-dev-public-secret-change-me-0123456789"


def serve(service: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if "SECRET" not in k}
    base[f"MERCATOR_{service.upper()}_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}"
    base[f"MERCATOR_{service.upper()}_HTTP_PORT"] = "9"  # never reached: it must stop before listening
    return subprocess.run(
        [sys.executable, "-m", f"mercator.{service}", "serve"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "key, why",
    [(None, "is not set"), (PUBLISHED, "is a published default"), ("short-0123456789", "is shorter than 32")],
)
def test_a_service_refuses_to_start_with_no_short_or_published_key(tmp_path, key, why):
    env = {} if key is None else {"MERCATOR_DEALS_TOKEN_SECRET": key}
    done = serve("deals", tmp_path, **env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"MERCATOR_DEALS_TOKEN_SECRET {why}" in done.stderr
    assert not (tmp_path / "deals.db").exists(), "it refused before touching its database"


def test_the_gateway_refuses_a_published_public_key_too(tmp_path):
    done = serve(
        "gateway",
        tmp_path,
        MERCATOR_GATEWAY_TOKEN_SECRET=os.urandom(32).hex(),
        MERCATOR_GATEWAY_PUBLIC_TOKEN_SECRET=PUBLISHED_PUBLIC,
    )
    assert done.returncode == 2
    assert "MERCATOR_GATEWAY_PUBLIC_TOKEN_SECRET is a published default" in done.stderr


async def test_an_app_is_not_even_built_with_a_published_key(service_app):
    with pytest.raises(WeakSecret, match="MERCATOR_GATEWAY_TOKEN_SECRET is a published default"):
        await service_app("gateway", token_secret=PUBLISHED, public_token_secret=os.urandom(32).hex())


async def test_an_admin_token_signed_with_the_published_keys_opens_nothing(service_app):
    settings, _, app = await service_app("gateway")
    now = datetime.now(UTC)
    forged = {
        "sub": str(uuid.uuid4()),
        "name": "Mallory",
        "roles": ["admin"],
        "iat": now,
        "exp": now + timedelta(hours=1),
        "iss": settings.token_issuer,
    }
    async with client(app) as api:
        for key, audience in ((PUBLISHED_PUBLIC, settings.public_audience), (PUBLISHED, settings.token_audience)):
            token = jwt.encode(forged | {"aud": audience}, key, algorithm="HS256")
            headers = {"Authorization": f"Bearer {token}"}
            assert (await api.get("/api/v1/users", headers=headers)).status_code == 401
            assert (
                await api.post("/api/v1/api-keys", headers=headers, json={"name": "mine", "scopes": ["read:companies"]})
            ).status_code == 401


def test_compose_refuses_to_start_without_its_secrets():
    binary = shutil.which("docker-compose")
    if binary is None:
        need("docker-compose (Debian package docker-compose)", "validates docker-compose.yml")
    out = subprocess.run(
        [binary, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        timeout=60,
    )
    assert out.returncode != 0
    assert "MERCATOR_TOKEN_SECRET" in out.stderr or "POSTGRES_PASSWORD" in out.stderr, out.stderr
    text = (ROOT / "docker-compose.yml").read_text()
    assert not any(secret in text for secret in KNOWN_SECRETS if len(secret) > 8)
    for variable in (
        "MERCATOR_TOKEN_SECRET",
        "MERCATOR_PUBLIC_TOKEN_SECRET",
        "POSTGRES_PASSWORD",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        assert f"${{{variable}:-" not in text, f"{variable} has a default in docker-compose.yml"


def test_make_run_makes_keys_of_its_own_per_install_and_keeps_them(tmp_path):
    first = install_secrets(tmp_path / "a")
    assert install_secrets(tmp_path / "a") == first, "a restart keeps the install's keys"
    other = install_secrets(tmp_path / "b")
    assert other["token_secret"] != first["token_secret"]
    assert other["public_token_secret"] != first["public_token_secret"]
    for key in first.values():
        assert len(key) >= 64 and key not in KNOWN_SECRETS
    mode = stat.S_IMODE((tmp_path / "a" / "secrets.json").stat().st_mode)
    assert mode == 0o600, oct(mode)


def test_make_run_prints_a_short_lived_managers_token_not_an_ops_one(tmp_path):
    launcher = Launcher(RunSettings(data_dir=tmp_path, token_secret=None))
    keys = json.loads((tmp_path / "secrets.json").read_text())
    caller = read_token(ServiceSettings(token_secret=keys["token_secret"]), launcher.token)
    assert caller.roles == {"manager"}
    claims = jwt.decode(launcher.token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 3600
