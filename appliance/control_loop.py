"""The control socket's one serving thread: a selector loop over a bounded set of clients.

A thread per connection let 1,023 held connections exhaust the open-file limit, after which the
FTP receiver could not accept the inverter's pushes. Here one thread serves at most `max_clients`
connections; one more is told the service is busy and closed at once, idle clients are closed
after `idle_timeout_s`, and a listener out of descriptors (EMFILE) pauses accepting with a
back-off and logs once a minute (ftp_guard.AcceptBackoff) instead of spinning.
"""

from __future__ import annotations

import errno
import json
import logging
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .sources.ftp_guard import AcceptBackoff

log = logging.getLogger(__name__)

OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
MAX_PENDING_OUT_BYTES = 1024 * 1024  # a client that reads nothing is dropped, not buffered for


@dataclass
class Client:
    conn: socket.socket
    peer: tuple[int, int, int]  # pid, uid, gid
    last_s: float
    inbox: bytes = b""
    outbox: bytes = b""
    closing: bool = False
    extra: dict = field(default_factory=dict)


def encode(answer: dict) -> bytes:
    return json.dumps(answer, default=str).encode("utf-8") + b"\n"


class ClientLoop:
    """Accepts on `listener` and hands each complete line to `answer(line, peer) -> dict`."""

    def __init__(self, listener: socket.socket, wake_fd: int, answer: Callable[[bytes, tuple], dict],
                 peer_of: Callable[[socket.socket], tuple[int, int, int]], *, max_clients: int,
                 max_line_bytes: int, idle_timeout_s: float, clock: Callable[[], float] = time.monotonic):
        self.listener = listener
        self.wake_fd = wake_fd
        self.answer = answer
        self.peer_of = peer_of
        self.max_clients = max_clients
        self.max_line_bytes = max_line_bytes
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        # A local socket: short pauses, so a shell command waits at most a couple of seconds.
        self.backoff = AcceptBackoff(clock, first_s=0.25, max_s=2.0)
        self.clients: dict[int, Client] = {}
        self.turned_away = 0
        self._accept_again_s: float | None = None
        self.sel = selectors.DefaultSelector()

    def run(self, stopping: Callable[[], bool]) -> None:
        self.sel.register(self.listener, selectors.EVENT_READ, "listen")
        self.sel.register(self.wake_fd, selectors.EVENT_READ, "wake")
        try:
            while not stopping():
                self._resume_accepting()
                for key, events in self.sel.select(timeout=self._select_timeout()):
                    self._event(key, events)
                self._close_idle()
        finally:
            for client in list(self.clients.values()):
                self._drop(client)
            self.sel.close()

    def _event(self, key: selectors.SelectorKey, events: int) -> None:
        try:
            if key.data == "listen":
                self._accept()
            elif isinstance(key.data, Client):
                self._service(key.data, events)
        except Exception:  # one client's trouble must never end the serving thread
            log.exception("The control socket failed to serve a connection; it serves on.")
            if isinstance(key.data, Client):
                self._drop(key.data)

    # -- accepting ---------------------------------------------------------------------------

    def _select_timeout(self) -> float | None:
        if self._accept_again_s is not None:
            return max(0.0, min(1.0, self._accept_again_s - self.clock()))
        if self.clients:
            return 1.0   # idle clients are checked once a second
        return None      # nothing to time: sleep until a connection comes or stop() writes the wake pipe

    def _resume_accepting(self) -> None:
        if self._accept_again_s is not None and self.clock() >= self._accept_again_s:
            self._accept_again_s = None
            self.sel.register(self.listener, selectors.EVENT_READ, "listen")

    def _accept(self) -> None:
        try:
            conn, _addr = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if e.errno in OUT_OF_DESCRIPTORS:
                pause_s = self.backoff.failed("The control socket", e)
                self.sel.unregister(self.listener)
                self._accept_again_s = self.clock() + pause_s
            return
        self.backoff.succeeded()
        if len(self.clients) >= self.max_clients:
            self.turned_away += 1
            try:
                conn.setblocking(False)
                conn.send(encode({"ok": False, "error": f"The service already serves {self.max_clients} "
                                  "connections: close idle ones and try again."}))
            except OSError:
                pass
            conn.close()
            return
        try:
            peer = self.peer_of(conn)
        except OSError:
            peer = (0, -1, -1)
        conn.setblocking(False)
        client = Client(conn, peer, self.clock())
        self.clients[conn.fileno()] = client
        self.sel.register(conn, selectors.EVENT_READ, client)

    # -- serving -----------------------------------------------------------------------------

    def _service(self, client: Client, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self._flush(client)
        if events & selectors.EVENT_READ and not client.closing:
            try:
                chunk = client.conn.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._drop(client)
                return
            client.last_s = self.clock()
            self._take(client, chunk)

    def _take(self, client: Client, chunk: bytes) -> None:
        client.inbox += chunk
        while b"\n" in client.inbox and not client.closing:
            line, client.inbox = client.inbox.split(b"\n", 1)
            if line.strip():
                self._queue(client, self.answer(line, client.peer))
        if len(client.inbox) > self.max_line_bytes:
            client.inbox = b""
            self._queue(client, {"ok": False, "error": f"Request longer than {self.max_line_bytes} "
                                 "bytes: send one short JSON object per line."})
            client.closing = True
            self._flush(client)

    def _queue(self, client: Client, answer: dict) -> None:
        client.outbox += encode(answer)
        if len(client.outbox) > MAX_PENDING_OUT_BYTES:
            self._drop(client)  # it sends and never reads: it gets nothing more
            return
        self._flush(client)

    def _flush(self, client: Client) -> None:
        if client.conn.fileno() < 0:
            return
        try:
            sent = client.conn.send(client.outbox) if client.outbox else 0
            client.outbox = client.outbox[sent:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._drop(client)
            return
        if not client.outbox and client.closing:
            self._drop(client)
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbox else 0)
        self.sel.modify(client.conn, want, client)

    def _close_idle(self) -> None:
        now = self.clock()
        for client in list(self.clients.values()):
            if now - client.last_s > self.idle_timeout_s:
                self._drop(client)

    def _drop(self, client: Client) -> None:
        client.closing = True
        fd = client.conn.fileno()
        if fd >= 0:
            self.clients.pop(fd, None)
            try:
                self.sel.unregister(client.conn)
            except (KeyError, ValueError):
                pass
        client.conn.close()
