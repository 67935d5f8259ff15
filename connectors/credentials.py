"""Rules every source config shares: one way to give a password, an ordered back-off."""

from __future__ import annotations

import os

from pydantic import SecretStr


def check_common(
    *,
    password: SecretStr | None,
    password_env: str | None,
    reconnect_min_s: float,
    reconnect_max_s: float,
) -> None:
    """Raise ValueError (pydantic reports it on the source) when the shared rules break."""
    if password is not None and password_env is not None:
        raise ValueError("set password or password_env, not both")
    if reconnect_max_s < reconnect_min_s:
        raise ValueError("reconnect_max_s must be >= reconnect_min_s")


def resolve_password(
    source_id: str, password: SecretStr | None, password_env: str | None
) -> str | None:
    """The password given inline, or read from the named environment variable."""
    if password is not None:
        return password.get_secret_value()
    if password_env is None:
        return None
    value = os.environ.get(password_env)
    if value is None:
        raise ValueError(
            f"source {source_id}: password_env {password_env} is not set in the "
            "environment; export it or remove password_env"
        )
    return value
