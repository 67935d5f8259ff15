"""``gridaios users disable|enable|remove|role|revoke``: user administration, each an event."""

from __future__ import annotations

import argparse
from datetime import datetime

from runtime.api.auth import UserStore
from runtime.log import events as ev
from runtime.log.eventlog import EventLog


def administer(
    store: UserStore, log: EventLog, args: argparse.Namespace, by: str, now: datetime
) -> str:
    name = args.name
    if args.action == "disable":
        ended = store.set_disabled(name, True)
        change, said = "disabled", f"disabled {name}; {ended} token(s) and session(s) ended"
    elif args.action == "enable":
        store.set_disabled(name, False)
        change, said = "enabled", f"enabled {name}; issue new tokens as needed"
    elif args.action == "remove":
        store.remove(name)
        change, said = "removed", f"removed {name} and every token"
    elif args.action == "role":
        user = store.set_role(name, args.role)
        change = f"role:{user.role.value}"
        said = f"{name} is now {user.role.value}; their sessions ended (API tokens follow the role)"
    else:
        store.get(name)
        n = store.revoke_user(name, token_id=args.token_id)
        change, said = f"revoked:{n}", f"revoked {n} token(s) of {name}"
    log.append_event(ev.AuthUserChanged(username=name, change=change, by=by), ts=now)
    return said
