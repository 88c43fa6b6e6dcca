"""FTP server that receives the Fronius Datamanager's push uploads and turns them into measurements.

The inverter logs in with the one configured user and STORes a power-flow JSON every few seconds.
Nothing is written to disk: the server shows the client an empty, virtual directory tree in
which every directory exists, each upload lands in a memory buffer, is parsed the moment it is
complete and then forgotten. The client can upload, create and enter directories, and list
them (always empty); it cannot download, delete, rename or reach anything outside its root.
"""

from __future__ import annotations

import errno
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence

from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.log import logger as pyftpdlib_log
from pyftpdlib.servers import FTPServer  # noqa: F401  (the type of _server)

from appliance.sources.fronius import FroniusDataError, Measurement, parse_document
from appliance.sources.ftp_guard import (
    AcceptBackoff, Admission, GuardedFTPServer, PromptScheduler, Waker, in_networks, parse_networks,
    parse_port_range, plain_ip,
)
from appliance.sources.ftp_memfs import AUTH_FAILED_DELAY_S, MemoryFS, OneUserAuthorizer, UploadBuffer, UploadTooLarge

log = logging.getLogger("appliance.ftp")

#: A connection that has not logged in after this long is closed (idle strangers hold no slot).
LOGIN_TIMEOUT_S = 15.0
#: An upload still running after this long is cut (a push is a few kB; a trickle holds a slot).
UPLOAD_TIME_LIMIT_S = 30.0
#: Connection slots kept free for the inverter's address (allowed_ips or the last good push).
RESERVED_SLOTS = 2


class _UploadDTP(DTPHandler):
    timeout = 30  # a stalled upload is dropped after this many seconds

    def handle_error(self):
        exc = sys.exc_info()[1]
        if isinstance(getattr(exc, "__cause__", None), UploadTooLarge) or isinstance(exc, UploadTooLarge):
            # Answer with the FTP code for "exceeded storage allocation" instead of
            # pyftpdlib's generic message, then drop the data connection.
            self._resp = ("552 Upload too large; transfer aborted.", pyftpdlib_log.warning)
            self.close()
            return
        super().handle_error()


class _UploadHandler(FTPHandler):
    receiver: FtpReceiver  # set on the per-server subclass
    dtp_handler = _UploadDTP
    abstracted_fs = MemoryFS
    timeout = 120
    auth_failed_timeout = AUTH_FAILED_DELAY_S
    banner = "Wallbox appliance: ready for Fronius push uploads."
    use_sendfile = False

    def __init__(self, conn, server, ioloop=None):
        self._uploads: dict[str, UploadBuffer] = {}  # path -> buffer, until the upload ends
        self._upload_timers: dict = {}               # path -> its time-limit timer, cancelled at the end
        self._slot_ip: str | None = None
        self._login_timer = None
        super().__init__(conn, server, ioloop=ioloop)

    def handle(self):
        receiver = self.receiver
        if not receiver._ip_allowed(self.remote_ip):
            receiver._refuse_connection(self.remote_ip)
            self.respond("421 This address may not upload here.")
            self.close_when_done()
            return
        refusal = receiver.admission.admit(self.remote_ip)
        if refusal is not None:
            receiver.refused_connection_count += 1
            self.respond(refusal)
            self.close_when_done()
            return
        self._slot_ip = self.remote_ip
        self._login_timer = self.ioloop.call_later(
            receiver.login_timeout_s, self._login_timed_out, _errback=self.handle_error)
        super().handle()

    def _login_timed_out(self):
        if not self.authenticated and not self._closed:
            self.respond("421 No login within %d seconds; closing." % self.receiver.login_timeout_s)
            self.close_when_done()

    def on_login(self, username):
        if self._login_timer is not None and not self._login_timer.cancelled:
            self._login_timer.cancel()

    def close(self):
        if self._slot_ip is not None:
            self.receiver.admission.release(self._slot_ip)
            self._slot_ip = None
        if self._login_timer is not None and not self._login_timer.cancelled:
            self._login_timer.cancel()
        for timer in self._upload_timers.values():
            timer.cancel()
        self._upload_timers.clear()
        super().close()

    def new_upload(self, path: str) -> UploadBuffer:
        buffer = UploadBuffer(path, self.receiver.max_upload_bytes)
        self._uploads[path] = buffer
        old = self._upload_timers.pop(path, None)
        if old is not None:
            old.cancel()
        self._upload_timers[path] = self.ioloop.call_later(
            self.receiver.upload_time_limit_s, self._upload_overdue, path, _errback=self.handle_error)
        return buffer

    def _upload_overdue(self, path: str) -> None:
        buffer = self._uploads.get(path)
        if buffer is None or self._closed:
            return
        buffer.overdue = True
        if self.data_channel is not None:
            self.data_channel._resp = ("426 Upload took too long; transfer aborted.", pyftpdlib_log.warning)
            self.data_channel.close()  # reports the upload as incomplete
        else:
            self._take_upload(path)

    def _take_upload(self, path: str) -> UploadBuffer | None:
        timer = self._upload_timers.pop(path, None)
        if timer is not None and not timer.cancelled:
            timer.cancel()   # the upload has ended: its time limit must not wake the loop later
        return self._uploads.pop(path, None)

    def on_file_received(self, file):
        buffer = self._take_upload(file)
        if buffer is not None:
            self.receiver._upload_finished(self.remote_ip, buffer)

    def on_incomplete_file_received(self, file):
        buffer = self._take_upload(file)
        if buffer is not None:
            self.receiver._upload_aborted(self.remote_ip, buffer)

    def on_login_failed(self, username, password):
        if self.receiver.admission.login_failed(self.remote_ip):
            self.respond("421 Too many failed logins from this address; try again later.")
            self.close_when_done()
            return
        log.warning(
            "FTP login as %r from %s failed: check the push service's user name and password "
            "against ftp_user and ftp_password in [fronius].",
            username[:64],
            plain_ip(self.remote_ip),
        )


class FtpReceiver:
    """Receives Fronius push uploads over FTP and hands each parsed measurement on.

    on_measurement(measurement) and on_rejected(source, reason) run on the receiver's own
    thread as soon as an upload ends; keep them short (store the value, set an event).
    Exceptions they raise are logged and do not stop the server. ``max_connections`` counts
    control connections; ``RESERVED_SLOTS`` of them stay free for the inverter's address.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        allowed_ips: Sequence[str] = (),
        on_measurement: Callable[[Measurement], None],
        on_rejected: Callable[[str, str], None] | None = None,
        max_upload_bytes: int = 256 * 1024,
        max_connections: int = 16,
        max_connections_per_ip: int = 4,
        passive_ports: str | Sequence[int] | None = None,
        login_timeout_s: float = LOGIN_TIMEOUT_S,
        upload_time_limit_s: float = UPLOAD_TIME_LIMIT_S,
        auth_failed_delay_s: float = AUTH_FAILED_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not user or user.lower() in ("anonymous", "ftp"):
            raise ValueError(
                f"ftp_user {user!r} is not allowed: choose a user name for the inverter's push "
                "service (anonymous login is not offered)."
            )
        if not password:
            raise ValueError("ftp_password is empty: set the password the push service uses.")
        if max_upload_bytes < 1 or max_connections < 1 or max_connections_per_ip < 1:
            raise ValueError("max_upload_bytes, max_connections and max_connections_per_ip must be at least 1.")
        self._networks = parse_networks(allowed_ips)
        self.passive_ports = parse_port_range(passive_ports)
        self.host = host
        self.port = port
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_connections = int(max_connections)
        self.max_connections_per_ip = int(max_connections_per_ip)
        self.login_timeout_s = login_timeout_s
        self.upload_time_limit_s = upload_time_limit_s
        self.auth_failed_delay_s = auth_failed_delay_s
        self.admission = Admission(
            max_connections=self.max_connections, max_per_ip=self.max_connections_per_ip,
            reserved_slots=RESERVED_SLOTS, networks=self._networks, clock=clock)
        self.accept_backoff = AcceptBackoff(clock)
        self._user = user
        self._password = password
        self._on_measurement = on_measurement
        self._on_rejected = on_rejected
        self._clock = clock
        self.accepted_count = 0
        self.rejected_count = 0
        self.refused_connection_count = 0
        self._server: FTPServer | None = None
        self._ioloop: IOLoop | None = None
        self._thread: threading.Thread | None = None
        self._waker: Waker | None = None
        self._stop = threading.Event()

    # --- called from the server thread

    def _ip_allowed(self, address: str) -> bool:
        return not self._networks or in_networks(address, self._networks)

    def _refuse_connection(self, address: str) -> None:
        self.refused_connection_count += 1
        log.warning(
            "Refused an FTP connection from %s: it is not in allowed_ips (%s). If this is the "
            "inverter, add its address to allowed_ips in [fronius].",
            plain_ip(address),
            ", ".join(str(n) for n in self._networks),
        )

    def _pause_accepting(self, error: OSError) -> None:
        server, ioloop = self._server, self._ioloop
        if server is None or ioloop is None:
            return
        pause_s = self.accept_backoff.failed("The FTP receiver", error)
        fd = server._fileno
        ioloop.unregister(fd)

        def resume():
            if self._server is server and fd not in ioloop.socket_map:
                ioloop.register(fd, server, ioloop.READ)

        ioloop.call_later(pause_s, resume, _errback=lambda: None)

    def _reject(self, source: str, address: str, reason: str) -> None:
        self.rejected_count += 1
        log.warning("Upload %s from %s ignored: %s", source, plain_ip(address), reason)
        if self._on_rejected is not None:
            try:
                self._on_rejected(source, reason)
            except Exception:
                log.exception("The handler for rejected uploads failed.")

    def _upload_finished(self, address: str, buffer: UploadBuffer) -> None:
        source = buffer.name.lstrip("/")[:200]
        try:
            measurement = parse_document(buffer.getvalue(), source=source, received_at=self._clock())
        except FroniusDataError as exc:
            self._reject(source, address, str(exc))
            return
        except (ValueError, TypeError, RecursionError, MemoryError, OverflowError) as exc:
            # The parser names every problem it knows; anything else is still a bad push, never a crash.
            self._reject(source, address, f"the upload could not be read ({type(exc).__name__}: {str(exc)[:120]}).")
            return
        self.accepted_count += 1
        self.admission.upload_accepted(address)
        log.debug("Upload %s from %s: PV %.0f W", source, address, measurement.pv_w)
        try:
            self._on_measurement(measurement)
        except Exception:
            log.exception("The handler for inverter measurements failed on %s.", source)

    def _upload_aborted(self, address: str, buffer: UploadBuffer) -> None:
        source = buffer.name.lstrip("/")[:200]
        if buffer.too_large:
            reason = (
                f"the upload is larger than {self.max_upload_bytes} bytes and was aborted; a "
                "power-flow push is a few kB: check the push service's data format."
            )
        elif getattr(buffer, "overdue", False):
            reason = (f"the upload was still running after {self.upload_time_limit_s:g} s and was cut "
                      f"({buffer.size} bytes received); a push takes well under a second.")
        else:
            reason = f"the upload was aborted after {buffer.size} bytes (connection lost or ABOR)."
        self._reject(source, address, reason)

    # --- lifecycle

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("The FTP receiver is not started.")
        host, port = self._server.address
        return host, port

    def start(self) -> None:
        if self._server is not None:
            return
        logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
        handler = type(
            "FroniusUploadHandler",
            (_UploadHandler,),
            {"receiver": self, "authorizer": OneUserAuthorizer(self._user, self._password),
             "passive_ports": self.passive_ports, "auth_failed_timeout": self.auth_failed_delay_s},
        )
        ioloop = IOLoop()
        ioloop.sched = PromptScheduler()   # no wakeups for timers of connections already closed
        try:
            server = GuardedFTPServer((self.host, self.port), handler, ioloop=ioloop)
        except OSError as exc:
            ioloop.close()
            # pyftpdlib wraps the socket's error in a bare OSError(err): take the real one out.
            cause = exc.args[0] if exc.errno is None and exc.args and isinstance(exc.args[0], OSError) else exc
            port = self.port
            hint = {
                errno.EADDRINUSE: f"port {port} is in use by another program (another FTP server?). Stop "
                f"it (`sudo ss -ltnp 'sport = :{port}'` shows which), or set fronius.ftp_port to a free "
                f"port and enter the same port in the inverter's Push Service.",
                errno.EACCES: f"port {port} is below 1024, which needs root or CAP_NET_BIND_SERVICE (the "
                f"systemd unit grants it): run the service from its unit, or set fronius.ftp_port to "
                f"1024 or above and enter it in the inverter's Push Service.",
                errno.EADDRNOTAVAIL: f"{self.host} is not an address of this appliance: set "
                f'fronius.ftp_host = "0.0.0.0" (every interface).',
            }.get(cause.errno, f"{cause.strerror or cause}.")
            raise OSError(cause.errno, f"Cannot listen for FTP uploads on {self.host}:{port}: {hint}") from exc
        # The admission rules count control connections per address and keep slots for the
        # inverter; pyftpdlib's own caps (one pool for everyone) would let strangers fill it.
        server.max_cons = 0
        server.max_cons_per_ip = 0
        server.receiver = self
        self._waker = Waker()
        ioloop.register(self._waker.reader.fileno(), self._waker, ioloop.READ)
        self._server, self._ioloop = server, ioloop
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="ftp-receiver", daemon=True)
        self._thread.start()
        host, port = self.address
        log.info("Listening for Fronius push uploads on FTP %s:%d.", host, port)

    def _serve(self) -> None:
        ioloop = self._ioloop
        try:
            while not self._stop.is_set():
                # Poll directly (not IOLoop.loop()) so pyftpdlib does not set up logging itself.
                # Sleep until a socket is ready or the next timer is due: no wakeups while idle.
                try:
                    ioloop.poll(ioloop.sched.poll())
                except Exception:
                    # One broken connection must not end the service's data input.
                    log.exception("The FTP receiver hit an unexpected error; it keeps serving.")
                    self._stop.wait(0.05)
        finally:
            ioloop.close()
            if self._waker is not None:
                self._waker.close()

    def stop(self) -> None:
        self._stop.set()
        if self._waker is not None:
            self._waker.wake()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._thread = None
        self._server = None
        self._ioloop = None
