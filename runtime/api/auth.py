"""Local users: scrypt-hashed passwords, session and API tokens, lockout. One SQLite file.

Nothing secret is stored in clear: a password is kept as its scrypt digest with a
per-user salt, a token as its sha256 digest (tokens are long random strings, so a
plain digest is enough). Time comes from the caller (``now``), never the wall.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from runtime.api.roles import Role
from runtime.core.errors import GridaiosError, NotFound
from runtime.log.durable import open_durable

# scrypt cost: about 50 ms and 16 MiB per check on the edge box
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD = 8

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username     TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    salt         BLOB NOT NULL,
    pw_hash      BLOB NOT NULL,
    scrypt       TEXT NOT NULL,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    created      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    digest     TEXT PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES users(username),
    kind       TEXT NOT NULL,
    created    TEXT NOT NULL,
    expires_at TEXT
);
"""

TokenKind = Literal["session", "api"]


class AuthError(GridaiosError):
    """A users-store request that cannot be done as asked (bad name, weak password, ...)."""


class UserExists(AuthError):
    """That username is taken."""


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    username: str
    role: Role
    created: datetime
    failures: int = 0
    locked_until: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who made a request, and with which credential."""

    username: str
    role: Role
    kind: TokenKind
    digest: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggedIn:
    user: User


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    username: str
    reason: str
    failures: int = 0
    locked_until: datetime | None = None  # set when this failure locked the account


@dataclass(frozen=True, slots=True, kw_only=True)
class Locked:
    username: str
    until: datetime


LoginOutcome = LoggedIn | Failed | Locked


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    token: str  # shown once, never stored
    username: str
    kind: TokenKind
    expires_at: datetime | None

    @property
    def token_id(self) -> str:
        return token_digest(self.token)[:12]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )


_DUMMY_SALT = b"\x00" * 16


class UserStore:
    def __init__(
        self, path: str | Path, *, max_failures: int = 5, lockout: timedelta = timedelta(minutes=15)
    ) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures = {max_failures}: must be >= 1")
        self.path = Path(path)
        self.max_failures = max_failures
        self.lockout = lockout
        self._lock = threading.Lock()
        self._db = open_durable(self.path, _SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(users)")}
        if "disabled" not in columns:  # stores made before users could be disabled
            self._db.execute("ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- users ----------------------------------------------------------------

    def add(self, username: str, password: str, role: Role | str, now: datetime) -> User:
        if not USERNAME.fullmatch(username):  # not match: "$" allows a final newline
            raise AuthError(
                f"username {username!r}: use 1-64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        if len(password) < MIN_PASSWORD:
            raise AuthError(f"password for {username}: at least {MIN_PASSWORD} characters")
        try:
            role = Role(role)
        except ValueError as err:
            raise AuthError(f"role {role!r}: one of {', '.join(r.value for r in Role)}") from err
        salt = secrets.token_bytes(16)
        digest = _scrypt(password, salt)
        with self._lock:
            clash = self._db.execute(
                "SELECT username FROM users WHERE lower(username) = lower(?)", (username,)
            ).fetchone()
            if clash is not None:  # one person, one name: 'Alice' is alice
                raise UserExists(f"user {clash[0]} exists; {username} is the same name")
            try:
                self._db.execute(
                    "INSERT INTO users (username, role, salt, pw_hash, scrypt, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        username,
                        role.value,
                        salt,
                        digest,
                        f"n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}",
                        now.isoformat(),
                    ),
                )
            except sqlite3.IntegrityError as err:
                raise UserExists(f"user {username} exists; pick another name") from err
        return User(username=username, role=role, created=now)

    def get(self, username: str) -> User:
        with self._lock:
            row = self._db.execute(
                "SELECT username, role, created, failures, locked_until FROM users"
                " WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no user {username}; see `gridaios users list`")
        return _user(row)

    def list(self) -> list[User]:
        with self._lock:
            rows = self._db.execute(
                "SELECT username, role, created, failures, locked_until FROM users"
                " ORDER BY username"
            ).fetchall()
        return [_user(r) for r in rows]

    def unlock(self, username: str) -> User:
        self.get(username)
        with self._lock:
            self._db.execute(
                "UPDATE users SET failures = 0, locked_until = NULL WHERE username = ?",
                (username,),
            )
        return self.get(username)

    # --- login ----------------------------------------------------------------

    def login(self, username: str, password: str, now: datetime) -> LoginOutcome:
        """Check a password; count failures and lock the account after ``max_failures``."""
        with self._lock:
            row = self._db.execute(
                "SELECT salt, pw_hash, failures, locked_until FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            _scrypt(password, _DUMMY_SALT)  # same cost as a real check: no user enumeration
            return Failed(username=username, reason="unknown user")
        salt, stored, failures, locked_until = row
        if self.is_disabled(username):
            _scrypt(password, _DUMMY_SALT)
            return Failed(username=username, reason="account disabled")
        if locked_until is not None and datetime.fromisoformat(locked_until) > now:
            return Locked(username=username, until=datetime.fromisoformat(locked_until))
        if hmac.compare_digest(_scrypt(password, bytes(salt)), bytes(stored)):
            with self._lock:
                self._db.execute(
                    "UPDATE users SET failures = 0, locked_until = NULL WHERE username = ?",
                    (username,),
                )
            return LoggedIn(user=self.get(username))
        failures = int(failures) + 1
        until = now + self.lockout if failures >= self.max_failures else None
        with self._lock:
            self._db.execute(
                "UPDATE users SET failures = ?, locked_until = ? WHERE username = ?",
                (0 if until else failures, until.isoformat() if until else None, username),
            )
        return Failed(
            username=username, reason="wrong password", failures=failures, locked_until=until
        )

    # --- tokens ---------------------------------------------------------------

    def issue(
        self, username: str, kind: TokenKind, now: datetime, ttl: timedelta | None
    ) -> IssuedToken:
        self.get(username)
        token = ("gas_" if kind == "session" else "gat_") + secrets.token_urlsafe(32)
        expires = now + ttl if ttl is not None else None
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (digest, username, kind, created, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    token_digest(token),
                    username,
                    kind,
                    now.isoformat(),
                    expires.isoformat() if expires else None,
                ),
            )
        return IssuedToken(token=token, username=username, kind=kind, expires_at=expires)

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        """The user behind a token, or None when it is unknown or expired."""
        digest = token_digest(token)
        with self._lock:
            row = self._db.execute(
                "SELECT t.username, u.role, t.kind, t.expires_at, u.locked_until, u.disabled"
                " FROM tokens t JOIN users u ON u.username = t.username WHERE t.digest = ?",
                (digest,),
            ).fetchone()
        if row is None:
            return None
        username, role, kind, expires, locked_until, disabled = row
        if expires is not None and datetime.fromisoformat(expires) <= now:
            return None
        if disabled:
            return None  # a disabled user's tokens and sessions stop at once
        if kind == "session" and locked_until and datetime.fromisoformat(locked_until) > now:
            return None  # a locked account's sessions end with the lockout
        return Principal(username=username, role=Role(role), kind=kind, digest=digest)

    # --- administration -----------------------------------------------------------

    def is_disabled(self, username: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT disabled FROM users WHERE username = ?", (username,)
            ).fetchone()
        return bool(row and row[0])

    def set_disabled(self, username: str, disabled: bool) -> int:
        """Disable (every token and session ends) or enable a user; the tokens revoked."""
        self.get(username)
        with self._lock:
            self._db.execute(
                "UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username)
            )
        return self.revoke_user(username) if disabled else 0

    def remove(self, username: str) -> None:
        self.get(username)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM tokens WHERE username = ?", (username,))
                self._db.execute("DELETE FROM users WHERE username = ?", (username,))
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def set_role(self, username: str, role: Role | str) -> User:
        try:
            role = Role(role)
        except ValueError as err:
            raise AuthError(f"role {role!r}: one of {', '.join(r.value for r in Role)}") from err
        self.get(username)
        with self._lock:
            self._db.execute("UPDATE users SET role = ? WHERE username = ?", (role.value, username))
            # sessions carry the old role's trust: they end; API tokens follow the new role
            self._db.execute(
                "DELETE FROM tokens WHERE username = ? AND kind = 'session'", (username,)
            )
        return self.get(username)

    def revoke_user(self, username: str, *, token_id: str | None = None) -> int:
        """Revoke a user's tokens (all, or the one whose digest starts with ``token_id``)."""
        with self._lock:
            if token_id is None:
                cur = self._db.execute("DELETE FROM tokens WHERE username = ?", (username,))
            else:
                if len(token_id) < 8:
                    raise AuthError(f"token id {token_id!r}: give at least 8 hex digits")
                cur = self._db.execute(
                    "DELETE FROM tokens WHERE username = ? AND substr(digest, 1, ?) = ?",
                    (username, len(token_id), token_id.lower()),
                )
        return int(cur.rowcount)

    def revoke(self, digest: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM tokens WHERE digest = ?", (digest,))

    def purge_expired(self, now: datetime) -> int:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?",
                (now.isoformat(),),
            )
        return int(cur.rowcount)


def _user(row: tuple[str, str, str, int, str | None]) -> User:
    username, role, created, failures, locked = row
    return User(
        username=username,
        role=Role(role),
        created=datetime.fromisoformat(created),
        failures=int(failures),
        locked_until=datetime.fromisoformat(locked) if locked else None,
    )
