"""Console sign-in: the admin token, typed once, buys a session cookie; every action carries a CSRF token.

Sessions live in this process's memory (a restart signs everyone out; several nodes each need their own
sign-in) and end after `ttl` seconds without use. The cookie is HttpOnly, SameSite=Strict and scoped to
`/console/`, and Secure when the console is reached over TLS (the request itself, or a `public_url` that is
https, i.e. a TLS-terminating proxy in front). A state-changing request must carry the session's CSRF
token (form field `csrf` or header `X-CSRF-Token`) and, when the browser sends an Origin, come from this
host: SameSite alone would leave older browsers and same-site subdomains open.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

COOKIE = "gleap_console"
PATH = "/console/"
MAX_SESSIONS = 1000  # oldest signed-in sessions are dropped beyond this


@dataclass(slots=True)
class Session:
    """A signed-in browser."""

    csrf: str
    expires: float


class Sessions:
    """Signed-in sessions and the checks every console request goes through."""

    def __init__(self, admin_token: str, *, ttl: float = 12 * 3600.0, force_secure: bool = False) -> None:
        self._token = admin_token.encode()
        self._ttl = ttl
        self._force_secure = force_secure
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def token_matches(self, given: str) -> bool:
        """Whether `given` is the admin token (constant time, so timing does not reveal it)."""
        return hmac.compare_digest(given.strip().encode(), self._token)

    def sign_in(self, request: web.Request, response: web.StreamResponse) -> Session:
        """Open a session and set its cookie on `response`."""
        sid = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(32), time.time() + self._ttl)
        self._sessions[sid] = session
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        response.set_cookie(
            COOKIE,
            sid,
            path=PATH,
            httponly=True,
            samesite="Strict",
            secure=self._force_secure or request.secure,
        )
        return session

    def sign_out(self, request: web.Request, response: web.StreamResponse) -> None:
        """End the request's session and clear its cookie."""
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)
        response.del_cookie(COOKIE, path=PATH)

    def current(self, request: web.Request) -> Session | None:
        """The request's live session (its idle time restarts), or None."""
        sid = request.cookies.get(COOKIE)
        session = self._sessions.get(sid) if sid else None
        if session is None or sid is None:
            return None
        now = time.time()
        if session.expires < now:
            del self._sessions[sid]
            return None
        session.expires = now + self._ttl
        self._sessions.move_to_end(sid)
        return session

    @staticmethod
    def csrf_ok(request: web.Request, session: Session, form_value: str | None) -> bool:
        """Whether a state-changing request is the console's own: right CSRF token and same origin."""
        origin = request.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != request.host:
            return False
        given = form_value or request.headers.get("X-CSRF-Token") or ""
        return hmac.compare_digest(given.encode(), session.csrf.encode())
