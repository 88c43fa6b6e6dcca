"""Who may change things on the web page: one password from the settings, sessions, CSRF, lockout.

Reading is open to the LAN (the page shows what the screen in the distribution board shows);
changing the mode or pausing needs the password. Without a password in the settings the page is
read-only. A login gets a random session token (an HttpOnly, SameSite=Strict cookie) and a CSRF
token the page sends back in a header with every change. Failed logins are rate-limited per
client and lock the client out after repeated failures; a flood from many addresses locks
logins for everyone for a while, so guessing stays slow even from a whole subnet.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable

SESSION_TTL_S = 12 * 3600
MAX_SESSIONS = 16
MIN_ATTEMPT_GAP_S = 1.0          # at most one login attempt a second per client
MAX_FAILURES = 5                 # failures within FAILURE_WINDOW_S that lock a client out
FAILURE_WINDOW_S = 15 * 60
LOCKOUT_S = 5 * 60
MAX_FAILURES_ALL_CLIENTS = 20    # failures within the window, all clients together
MAX_PASSWORD_CHARS = 256


class LoginResult(Enum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    TOO_FAST = "too_fast"
    NO_PASSWORD_SET = "no_password_set"


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str
    expires_s: float


@dataclass(frozen=True)
class Login:
    result: LoginResult
    message: str
    session: Session | None = None
    retry_after_s: float = 0.0


class Auth:
    """The password check, the sessions and the login limiter. Thread-safe enough for a few
    server threads: every method does its few dict operations under the GIL without I/O."""

    def __init__(self, password: str, *, clock: Callable[[], float] = time.monotonic):
        # Only a digest is kept; compare_digest on equal-length digests leaks no length.
        self._digest = hashlib.sha256(password.encode()).digest() if password else None
        self.clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._failures: dict[str, deque[float]] = {}
        self._last_attempt_s: dict[str, float] = {}
        self._locked_until_s: dict[str, float] = {}
        self._all_failures: deque[float] = deque()

    @property
    def password_set(self) -> bool:
        return self._digest is not None

    def login(self, client: str, password: str) -> Login:
        now = self.clock()
        if not self.password_set:
            return Login(LoginResult.NO_PASSWORD_SET, "The page is read-only: set a password under "
                         "[web] in the settings file to allow changes here.")
        wait_s = self._lock_remaining_s(client, now)
        if wait_s > 0:
            return Login(LoginResult.LOCKED, f"Too many wrong passwords: try again in {wait_s / 60:.0f} min.",
                         retry_after_s=wait_s)
        last = self._last_attempt_s.get(client)
        self._last_attempt_s[client] = now
        if last is not None and now - last < MIN_ATTEMPT_GAP_S:
            return Login(LoginResult.TOO_FAST, "One login attempt a second: try again.",
                         retry_after_s=MIN_ATTEMPT_GAP_S)
        given = hashlib.sha256(password[:MAX_PASSWORD_CHARS].encode()).digest()
        if hmac.compare_digest(given, self._digest):
            self._failures.pop(client, None)
            return Login(LoginResult.OK, "Logged in.", self._new_session(now))
        self._record_failure(client, now)
        left = MAX_FAILURES - len(self._failures.get(client, ()))
        if self._lock_remaining_s(client, now) > 0:
            return Login(LoginResult.LOCKED, f"Wrong password. Locked for {LOCKOUT_S // 60} min "
                         "after repeated failures.", retry_after_s=LOCKOUT_S)
        return Login(LoginResult.WRONG, f"Wrong password ({left} more tries before a "
                     f"{LOCKOUT_S // 60}-minute lockout).")

    def _record_failure(self, client: str, now: float) -> None:
        window = self._failures.setdefault(client, deque())
        window.append(now)
        while window and now - window[0] > FAILURE_WINDOW_S:
            window.popleft()
        if len(window) >= MAX_FAILURES:
            self._locked_until_s[client] = now + LOCKOUT_S
            window.clear()
        self._all_failures.append(now)
        while self._all_failures and now - self._all_failures[0] > FAILURE_WINDOW_S:
            self._all_failures.popleft()
        if len(self._all_failures) >= MAX_FAILURES_ALL_CLIENTS:
            self._locked_until_s["*"] = now + LOCKOUT_S
            self._all_failures.clear()
        if len(self._last_attempt_s) > 1000:  # bounded memory against address floods
            self._last_attempt_s.clear()
            self._failures = {k: v for k, v in self._failures.items() if v}

    def _lock_remaining_s(self, client: str, now: float) -> float:
        until = max(self._locked_until_s.get(client, 0.0), self._locked_until_s.get("*", 0.0))
        return max(0.0, until - now)

    def _new_session(self, now: float) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + SESSION_TTL_S)
        self._sessions[session.token] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    def session(self, token: str | None) -> Session | None:
        """The live session for a cookie's token, or None."""
        if not token or not self.password_set:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        if self.clock() >= session.expires_s:
            self._sessions.pop(token, None)
            return None
        return session

    def may_change(self, token: str | None, csrf: str | None) -> bool:
        session = self.session(token)
        return session is not None and bool(csrf) and hmac.compare_digest(session.csrf, csrf)

    def logout(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)
