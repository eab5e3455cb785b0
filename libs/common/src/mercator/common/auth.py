"""Who is calling: a signed token (HS256 JWT) that the gateway forwards to every service."""

from __future__ import annotations

import argparse
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import jwt

from mercator.common import clock
from mercator.common.settings import ServiceSettings


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    name: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    department_id: uuid.UUID | None = None
    # For a head of sales: their department and every one below it (the gateway works it out).
    departments: frozenset[uuid.UUID] = field(default_factory=frozenset)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


class InvalidToken(Exception):
    pass


def mint_token(settings: ServiceSettings, caller: Caller, ttl: timedelta = timedelta(hours=12)) -> str:
    now = clock.now()
    claims = {
        "sub": str(caller.user_id),
        "name": caller.name,
        "roles": sorted(caller.roles),
        "dept": str(caller.department_id) if caller.department_id else None,
        "depts": sorted(str(d) for d in caller.departments),
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, settings.token_secret, algorithm="HS256")


def read_token(settings: ServiceSettings, token: str) -> Caller:
    try:
        claims = jwt.decode(
            token,
            settings.token_secret,
            algorithms=["HS256"],
            audience=settings.token_audience,
            issuer=settings.token_issuer,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
        return Caller(
            user_id=uuid.UUID(claims["sub"]),
            name=claims.get("name") or "",
            roles=frozenset(claims.get("roles") or ()),
            department_id=uuid.UUID(claims["dept"]) if claims.get("dept") else None,
            departments=frozenset(uuid.UUID(d) for d in claims.get("depts") or ()),
        )
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def main(argv: list[str] | None = None) -> None:
    """Mint a token for local use: python -m mercator.common.auth --name Anna --role manager"""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--user-id", default="00000000-0000-4000-8000-000000000001")
    parser.add_argument("--name", default="Demo Manager")
    parser.add_argument("--role", action="append", default=None)
    parser.add_argument("--department-id", default=None)
    parser.add_argument("--hours", type=float, default=1)
    parser.add_argument(
        "--data-dir",
        default="var",
        help="the embedded run's data folder, whose key signs the token when MERCATOR_TOKEN_SECRET is unset",
    )
    args = parser.parse_args(argv)
    caller = Caller(
        uuid.UUID(args.user_id),
        args.name,
        frozenset(args.role or ["manager"]),
        uuid.UUID(args.department_id) if args.department_id else None,
    )
    settings = ServiceSettings()
    if not settings.token_secret:
        kept = Path(args.data_dir) / "secrets.json"
        if not kept.exists():
            parser.error(
                f"no key to sign with: set MERCATOR_TOKEN_SECRET, or start `make run` once ({kept} is missing)"
            )
        settings = ServiceSettings(token_secret=json.loads(kept.read_text())["token_secret"])
    print(mint_token(settings, caller, timedelta(hours=args.hours)))


if __name__ == "__main__":
    main()
