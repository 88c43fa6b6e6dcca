"""The appliance's web page on the LAN: the standard library's HTTP server, a few threads at most.

The page polls `/api/state` every two seconds while it is visible, so nothing runs while nobody
has it open: the server thread sleeps in `accept`. Every answer carries strict security headers
(no inline script or style, no framing); changes need a login session and its CSRF token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from ..control_socket import validate
from ..input_limits import REQUEST_LIMITS, RejectCounter, loads_limited, reason_kind
from . import views
from .auth import SESSION_TTL_S, Auth, LoginResult

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
    "/icon.svg": ("icon.svg", "image/svg+xml"),
}
MAX_BODY_BYTES = 1024
MAX_THREADS = 4
REQUEST_TIMEOUT_S = 10.0
COOKIE = "wallbox_session"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _BoundedServer(ThreadingHTTPServer):
    """At most MAX_THREADS requests at a time; further connections wait in the listen backlog."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 16  # connections waiting for a thread wait here, not in SYN retries

    def __init__(self, address, handler, app: "WebServer"):
        self.app = app
        self._slots = threading.BoundedSemaphore(MAX_THREADS)
        self.stopping = False
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        # Waits for a free slot, but notices a stop meanwhile (idle clients may hold every slot).
        while not self._slots.acquire(timeout=0.2):
            if self.stopping:
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class WebServer:
    """Serves the page and its small JSON API from plain inputs (see the package docstring)."""

    def __init__(self, *, get_status: Callable[[], dict], command: Callable[..., dict],
                 settings: Any = None, sessions_csv: Path | str | None = None, history: Any = None,
                 log_lines: Any = None, password: str = "", get_snapshot: Callable[[], Any] | None = None, stale_after_s: float | None = None,
                 host: str = "0.0.0.0", port: int = 8080, clock: Callable[[], float] = time.monotonic,
                 poll_interval_s: float = 0.5):
        self.get_status = get_status
        self.command = command
        self.settings = settings
        self.sessions_csv = sessions_csv
        self.history = history
        self.log_lines = log_lines
        self.stale_after_s = stale_after_s
        self.get_snapshot = get_snapshot
        self.auth = Auth(password, clock=clock)
        self.rejected = RejectCounter()  # change requests refused before parsing, per reason
        self.host, self._port = host, port
        self.poll_interval_s = poll_interval_s  # how soon stop() is noticed; idle cost is nil
        self.api_requests: dict[str, int] = {}  # path -> answers given (diagnostics and tests)
        self._server: _BoundedServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        try:
            self._server = _BoundedServer((self.host, self._port), _Handler, self)
        except OSError as e:
            log.error("The web page cannot listen on %s port %s (%s): choose another [web] port in the "
                      "settings, or stop what uses it.", self.host or "all addresses", self._port, e.strerror or e)
            raise
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": self.poll_interval_s},
                                        name="web", daemon=True)
        self._thread.start()
        log.info("The web page is at http://%s:%d/ (%s).", self.host, self.port,
                 "changes need the [web] password" if self.auth.password_set
                 else "read-only: no [web] password set")

    def stop(self) -> None:
        if self._server:
            self._server.stopping = True
            self._server.shutdown()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> "WebServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ answers (plain dicts)

    def status(self) -> dict:
        try:
            return self.get_status() or {}
        except Exception:  # the page shows "starting" rather than failing with the service
            log.exception("The web page could not read the service's status.")
            return {}

    def screen_png(self) -> bytes | None:
        """The front panel's picture now, twice its size, or None without a snapshot source."""
        if self.get_snapshot is None:
            return None
        import io

        from PIL import Image

        from display.screens import render

        try:
            picture = render(self.get_snapshot())
        except Exception:
            log.exception("The web page could not draw the screen's picture.")
            return None
        picture = picture.resize((picture.width * 2, picture.height * 2), Image.Resampling.NEAREST)
        out = io.BytesIO()
        picture.save(out, format="PNG", compress_level=1)
        return out.getvalue()

    def api_get(self, path: str, query: dict[str, list[str]], token: str | None) -> tuple[int, Any]:
        self.api_requests[path] = self.api_requests.get(path, 0) + 1
        if path == "/api/state":
            return 200, views.state_view(self.status(), self.stale_after_s)
        if path == "/api/history":
            day_text = (query.get("day") or [""])[0]
            try:
                day = date.fromisoformat(day_text) if day_text else None
            except ValueError:
                return 400, {"ok": False, "error": f"day {day_text[:20]!r} is not a date like 2026-06-21."}
            return 200, views.history_view(self.history, day)
        if path == "/api/sessions":
            return 200, views.sessions_view(self.sessions_csv, self.status())
        if path == "/api/settings":
            return 200, views.settings_view(self.settings)
        if path == "/api/log":
            lines = self.log_lines.lines(50) if self.log_lines is not None else []
            return 200, {"lines": lines}
        if path == "/api/session":
            session = self.auth.session(token)
            return 200, {"password_set": self.auth.password_set, "logged_in": session is not None,
                         "csrf": session.csrf if session else None}
        return 404, {"ok": False, "error": f"No such page: {path[:80]}"}

    def change(self, body: dict, token: str | None, csrf: str | None) -> tuple[int, dict]:
        if not self.auth.password_set:
            return 403, {"ok": False, "error": "The page is read-only: set a password under [web] in the "
                                               "settings file to allow changes here."}
        if not self.auth.may_change(token, csrf):
            return 403, {"ok": False, "error": "Log in with the password to change this."}
        request, error = validate(body)
        if request is None:
            return 400, {"ok": False, "error": error}
        name = request.pop("command")
        try:
            answer = self.command(name, **request)
        except Exception as e:
            log.exception("A command from the web page failed.")
            return 503, {"ok": False, "error": f"The service did not take the command ({e})."}
        return (200 if answer.get("ok") else 400), answer


class _Handler(BaseHTTPRequestHandler):
    server: _BoundedServer
    server_version = "wallbox"
    sys_version = ""

    def version_string(self) -> str:
        return "wallbox"
    timeout = REQUEST_TIMEOUT_S

    def log_message(self, fmt: str, *args) -> None:
        log.debug("web %s: " + fmt, self.client_address[0], *args)

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        for key, value in {**SECURITY_HEADERS, **(extra or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, extra: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", extra)

    def _token(self) -> str | None:
        try:
            morsel = SimpleCookie(self.headers.get("Cookie", "")).get(COOKIE)
        except CookieError:
            return None
        return morsel.value if morsel else None

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client went away; nothing to answer
        except Exception:
            log.exception("The web page failed on %r; the service goes on.", getattr(self, "path", ""))
            self.close_connection = True
            try:
                self._json(500, {"ok": False, "error": "Something failed on the appliance: see its log."})
            except OSError:
                pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path in STATIC_FILES:
            name, content_type = STATIC_FILES[parts.path]
            self._send(200, (STATIC_DIR / name).read_bytes(), content_type)
            return
        if parts.path == "/screen.png":
            picture = self.server.app.screen_png()
            if picture is None:
                self._json(404, {"ok": False, "error": "No screen picture here."})
            else:
                self._send(200, picture, "image/png")
            return
        status, data = self.server.app.api_get(parts.path, parse_qs(parts.query), self._token())
        self._json(status, data)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        body = self._read_body()
        if body is None:
            return
        app = self.server.app
        path = urlsplit(self.path).path
        if path == "/api/login":
            self._login(app, body)
        elif path == "/api/logout":
            if app.auth.may_change(self._token(), self.headers.get("X-CSRF-Token")):
                app.auth.logout(self._token())
            self._json(200, {"ok": True}, {"Set-Cookie": f"{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"})
        elif path == "/api/command":
            self._json(*app.change(body, self._token(), self.headers.get("X-CSRF-Token")))
        else:
            self._json(404, {"ok": False, "error": f"No such page: {path[:80]}"})

    def _read_body(self) -> dict | None:
        """The JSON object sent, or None after answering why it is refused."""
        origin = self.headers.get("Origin")
        host = self.headers.get("Host", "")
        if origin and urlsplit(origin).netloc != host:
            self._json(403, {"ok": False, "error": "Changes are accepted only from this appliance's own page."})
            return None
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            self._json(415, {"ok": False, "error": "Send the request as JSON (Content-Type: application/json)."})
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._json(413, {"ok": False, "error": f"The request is too large: at most {MAX_BODY_BYTES} bytes."})
            return None
        try:
            # Limited before parsing: 1,024 bytes of "[" are enough to exhaust json's recursion.
            body = loads_limited(self.rfile.read(length) or b"{}", REQUEST_LIMITS)
        except ValueError as e:
            self.server.app.rejected.count(reason_kind(str(e)))
            self._json(400, {"ok": False, "error": f"The request must be one small JSON object ({e})."})
            return None
        except UnicodeDecodeError:
            body = None
        if not isinstance(body, dict):
            self.server.app.rejected.count("other")
            self._json(400, {"ok": False, "error": "The request must be one JSON object."})
            return None
        return body

    def _login(self, app: WebServer, body: dict) -> None:
        password = body.get("password")
        if not isinstance(password, str) or not 0 < len(password) <= 256:
            self._json(400, {"ok": False, "error": "Enter the password (at most 256 characters)."})
            return
        result = app.auth.login(self.client_address[0], password)
        if result.result is LoginResult.OK:
            cookie = f"{COOKIE}={result.session.token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_TTL_S}"
            self._json(200, {"ok": True, "csrf": result.session.csrf}, {"Set-Cookie": cookie})
            return
        if result.result is not LoginResult.NO_PASSWORD_SET:
            log.warning("A wrong web page password came from %s (%s).", self.client_address[0], result.result.value)
        status = {LoginResult.NO_PASSWORD_SET: 403, LoginResult.WRONG: 401}.get(result.result, 429)
        extra = {"Retry-After": str(int(result.retry_after_s + 0.999))} if status == 429 else None
        self._json(status, {"ok": False, "error": result.message}, extra)
