"""The authorization matrix: every route x {no credentials, each role} -> 401 / 403 / allowed,
on a real uvicorn server with real SQLite files, and again after a restart on the same files."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from fastapi import FastAPI, Request, Response

from runtime.api import ApiContext, create_app
from runtime.api.roles import PUBLIC, ROUTE_ROLES, Role, RolesTableError, app_routes, check_routes
from tests.api.support import PASSWORD, ROLES, add_users, call, served

_names = itertools.count()
PATH_PARAMS = {"{dispatch_id}": "no-such-dispatch", "{dletter_id}": "1", "{name}": "none.html"}


def _url(base: str, path: str) -> str:
    query = "?point=bat1.p_kw&minutes=5" if path == "/api/state/history" else ""
    for param, value in PATH_PARAMS.items():
        path = path.replace(param, value)
    return base + path + query


def _body(method: str, path: str, role: str | None) -> object:
    if method != "POST":
        return None
    return {
        "/api/login": {"username": role or "nobody", "password": PASSWORD if role else "wrong-pw"},
        "/api/users": {"username": f"new{next(_names)}", "password": PASSWORD, "role": "viewer"},
        "/api/approvals/{dispatch_id}/approve": {"reason": "ok", "plan_hash": "0" * 64},
        "/api/approvals/{dispatch_id}/reject": {"reason": "crew on site"},
    }.get(path, {})


def _context(tmp_path: Path) -> ApiContext:
    return ApiContext(
        events_path=tmp_path / "events.db",
        users_path=tmp_path / "users.db",
        dlq_path=tmp_path / "deadletters.db",
        shadow_dir=tmp_path / "shadow",
    )


def _expected(need: Role | None, role: str | None) -> str:
    if need is PUBLIC:
        return "public"
    if role is None:
        return "401"
    return "allow" if Role(role).allows(need) else "403"


def _run_matrix(base: str, routes: set[tuple[str, str]], tokens: dict[str, str]) -> list[str]:
    wrong: list[str] = []
    for (method, path), role in itertools.product(sorted(routes), (None, *ROLES)):
        need = ROUTE_ROLES[(method, path)]
        expected = _expected(need, role)
        token = tokens[role] if role is not None and path != "/api/login" else None
        reply = call(method, _url(base, path), token=token, body=_body(method, path, role))
        ok = {
            "401": reply.status == 401,
            "403": reply.status == 403,
            "allow": reply.status not in (401, 403) and reply.status < 500,
            "public": reply.status != 403 and reply.status < 500,
        }[expected]
        if path == "/api/login":  # public, but the answer depends on the credentials
            ok = reply.status == (200 if role else 401)
        if not ok:
            wrong.append(
                f"{method} {path} as {role or 'anonymous'}: {reply.status}, want {expected}"
            )
    return wrong


@pytest.mark.slow
def test_every_route_by_every_role_also_after_a_restart(tmp_path: Path) -> None:
    tokens = add_users(tmp_path / "users.db")
    ctx = _context(tmp_path)
    routes = app_routes(create_app(ctx))
    assert routes == set(ROUTE_ROLES), "the table covers exactly the served routes"
    for run in ("first start", "after restart"):
        with served(ctx) as base:
            wrong = _run_matrix(base, routes, tokens)
            assert not wrong, f"{run}:\n" + "\n".join(wrong)
    # the users and tokens are in the file, not in the process
    assert (tmp_path / "users.db").exists()


def test_a_route_missing_from_the_table_stops_the_app(tmp_path: Path) -> None:
    app = create_app(_context(tmp_path))
    check_routes(app)

    @app.get("/api/unlisted")
    def unlisted() -> dict[str, str]:
        return {}

    with pytest.raises(RolesTableError, match="/api/unlisted"):
        check_routes(app)


def test_a_stale_table_entry_stops_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ROUTE_ROLES, ("GET", "/api/gone"), Role.VIEWER)
    with pytest.raises(RolesTableError, match="/api/gone"):
        create_app(_context(tmp_path))


def test_a_non_api_route_must_be_public() -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    async def raw(_: Request) -> Response:
        return Response(b"")

    app.add_route("/metrics", raw, methods=["GET"])  # outside the role check, table says viewer
    with pytest.raises(RolesTableError, match="not PUBLIC"):
        check_routes(app)


def test_the_roles_table_in_the_docs_matches_the_code() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| `")]
    for (method, path), need in ROUTE_ROLES.items():
        shown = path.replace("{dispatch_id}", "{id}").replace("{dletter_id}", "{id}")
        found = [r for r in rows if re.search(rf"`{method} {re.escape(shown)}[`?]", r)]
        assert found, f"docs/api.md has no roles row for {method} {shown}"
        role = need.value if need is not None else "public"
        assert role in found[0].rsplit("|", 2)[1], f"docs/api.md: {method} {shown} is not {role}"
