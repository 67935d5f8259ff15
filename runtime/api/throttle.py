"""Failed logins per client address: a password sprayer is slowed down whatever names it tries.

Account lockout (``auth.UserStore``) protects each real account; it cannot count attempts on
names that do not exist, nor one guess each on many accounts. This counts every failed login
by client address in a sliding window; past the limit the client is refused (429) until its
oldest failure leaves the window. Memory is bounded: at most ``max_clients`` addresses are
tracked, the least recently failing dropped first. In memory only: a restart forgets it (the
per-account lockout, which is in the user store, does not).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta


class LoginThrottle:
    def __init__(self, max_failures: int, window: timedelta, *, max_clients: int = 10_000) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures = {max_failures}: must be >= 1")
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()

    def blocked_until(self, client: str, now: datetime) -> datetime | None:
        """When ``client`` may try again, or None when it may now."""
        times = self._recent(client, now)
        if times is None or len(times) < self.max_failures:
            return None
        return times[0] + self.window

    def failed(self, client: str, now: datetime) -> None:
        times = self._recent(client, now)
        if times is None:
            times = self._failures[client] = deque(maxlen=self.max_failures)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
        times.append(now)
        self._failures.move_to_end(client)

    def _recent(self, client: str, now: datetime) -> deque[datetime] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times
