"""FTP server that receives the Fronius Datamanager's push uploads and turns them into measurements.

The inverter logs in with the one configured user and STORes a power-flow JSON every few seconds.
Nothing is written to disk: the server shows the client an empty, virtual directory tree in
which every directory exists, each upload lands in a memory buffer, is parsed the moment it is
complete and then forgotten. The client can upload, create and enter directories, and list
them (always empty); it cannot download, delete, rename or reach anything outside its root.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import itertools
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Callable, Sequence

from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.exceptions import FilesystemError
from pyftpdlib.filesystems import AbstractedFS
from pyftpdlib.handlers import DTPHandler, FTPHandler
from pyftpdlib.ioloop import IOLoop
from pyftpdlib.log import logger as pyftpdlib_log
from pyftpdlib.servers import FTPServer

from appliance.sources.fronius import FroniusDataError, Measurement, parse_document

log = logging.getLogger("appliance.ftp")

#: Permissions of the push user (pyftpdlib letters): e = change directory, l = list,
#: m = make directory, w = store. No r (download), a (append), d (delete), f (rename).
UPLOAD_PERMS = "elmw"

#: Delay before answering a wrong password (slows down guessing; the inverter never needs it).
AUTH_FAILED_DELAY_S = 1.0

_DIR_STAT = os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 2, 0, 0, 0, 0, 0, 0))


class UploadTooLarge(OSError):
    """An upload went over max_upload_bytes."""


class _UploadBuffer:
    """The file object an upload is written into: memory only, with a size limit."""

    def __init__(self, name: str, max_bytes: int) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.closed = False
        self.too_large = False
        self._chunks: list[bytes] = []
        self.size = 0

    def write(self, data: bytes) -> int:
        if self.size + len(data) > self.max_bytes:
            self.too_large = True
            self._chunks.clear()
            raise UploadTooLarge(errno.EFBIG, f"upload larger than {self.max_bytes} bytes")
        self._chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)

    def close(self) -> None:
        self.closed = True


class _MemoryFS(AbstractedFS):
    """A virtual tree rooted at "/": every directory exists and is empty; files only go in."""

    def validpath(self, path):
        # ftpnorm() already collapses "..", so every normalised path is inside the root.
        return path.startswith("/")

    def realpath(self, path):
        return path

    def open(self, filename, mode):
        if "w" not in mode:
            raise FilesystemError("Only uploads are possible here.")
        return self.cmd_channel.new_upload(filename)

    def mkstemp(self, suffix="", prefix="", dir=None, mode="wb"):
        name = f"{dir or '/'}/{prefix}upload-{next(_unique)}{suffix}".replace("//", "/")
        return self.cmd_channel.new_upload(name)

    def chdir(self, path):
        self.cwd = path

    def mkdir(self, path):
        pass  # every directory already exists

    def listdir(self, path):
        return []

    def listdirinfo(self, path):
        return []

    def _refuse(self, *args, **kwargs):
        raise FilesystemError("Not possible on this server: it only accepts uploads.")

    rmdir = remove = rename = chmod = utime = readlink = getsize = getmtime = _refuse

    def stat(self, path):
        return _DIR_STAT

    lstat = stat

    def isfile(self, path):
        return False

    def islink(self, path):
        return False

    def isdir(self, path):
        return True

    def lexists(self, path):
        return True


_unique = itertools.count(1)


class _Authorizer:
    """One user, compared in constant time; no anonymous access."""

    def __init__(self, user: str, password: str) -> None:
        self._user = user.encode()
        self._password = password.encode()

    def validate_authentication(self, username, password, handler):
        user_ok = hmac.compare_digest(username.encode(), self._user)
        password_ok = hmac.compare_digest(password.encode(), self._password)
        if not (user_ok and password_ok):
            raise AuthenticationFailed("Authentication failed.")

    def get_home_dir(self, username):
        return "/"

    def has_user(self, username):
        return username.encode() == self._user

    def has_perm(self, username, perm, path=None):
        return perm in UPLOAD_PERMS

    def get_perms(self, username):
        return UPLOAD_PERMS

    def get_msg_login(self, username):
        return "Logged in; uploads only."

    def get_msg_quit(self, username):
        return "Goodbye."

    def impersonate_user(self, username, password):
        pass

    def terminate_impersonation(self, username):
        pass


class _UploadDTP(DTPHandler):
    timeout = 30  # a stalled upload is dropped after this many seconds

    def handle_error(self):
        exc = sys.exc_info()[1]
        if isinstance(getattr(exc, "__cause__", None), UploadTooLarge) or isinstance(
            exc, UploadTooLarge
        ):
            # Answer with the FTP code for "exceeded storage allocation" instead of
            # pyftpdlib's generic message, then drop the data connection.
            self._resp = ("552 Upload too large; transfer aborted.", pyftpdlib_log.warning)
            self.close()
            return
        super().handle_error()


class _UploadHandler(FTPHandler):
    receiver: FtpReceiver  # set on the per-server subclass
    dtp_handler = _UploadDTP
    abstracted_fs = _MemoryFS
    timeout = 120
    auth_failed_timeout = AUTH_FAILED_DELAY_S
    banner = "Wallbox appliance: ready for Fronius push uploads."
    use_sendfile = False

    def __init__(self, conn, server, ioloop=None):
        self._uploads: dict[str, _UploadBuffer] = {}  # path -> buffer, until the upload ends
        super().__init__(conn, server, ioloop=ioloop)

    def handle(self):
        if not self.receiver._ip_allowed(self.remote_ip):
            self.receiver._refuse_connection(self.remote_ip)
            self.respond("421 This address may not upload here.")
            self.close_when_done()
            return
        super().handle()

    def new_upload(self, path: str) -> _UploadBuffer:
        buffer = _UploadBuffer(path, self.receiver.max_upload_bytes)
        self._uploads[path] = buffer
        return buffer

    def _take_upload(self, path: str) -> _UploadBuffer | None:
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
        log.warning(
            "FTP login as %r from %s failed: check the push service's user name and password "
            "against ftp_user and ftp_password in [fronius].",
            username,
            self.remote_ip,
        )


def _plain_ip(address: str) -> str:
    return address[7:] if address.startswith("::ffff:") and "." in address else address


class FtpReceiver:
    """Receives Fronius push uploads over FTP and hands each parsed measurement on.

    on_measurement(measurement) and on_rejected(source, reason) run on the receiver's own
    thread as soon as an upload ends; keep them short (store the value, set an event).
    Exceptions they raise are logged and do not stop the server. ``max_connections`` counts
    open control and data connections together.
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
        self._networks = []
        for entry in allowed_ips:
            try:
                self._networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"allowed_ips entry {entry!r} is not an IP address or network "
                    '(e.g. "192.168.178.40" or "192.168.178.0/24").'
                ) from None
        self.host = host
        self.port = port
        self.max_upload_bytes = int(max_upload_bytes)
        self.max_connections = int(max_connections)
        self.max_connections_per_ip = int(max_connections_per_ip)
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
        self._stop = threading.Event()

    # --- called from the server thread

    def _ip_allowed(self, address: str) -> bool:
        if not self._networks:
            return True
        try:
            ip = ipaddress.ip_address(_plain_ip(address))
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def _refuse_connection(self, address: str) -> None:
        self.refused_connection_count += 1
        log.warning(
            "Refused an FTP connection from %s: it is not in allowed_ips (%s). If this is the "
            "inverter, add its address to allowed_ips in [fronius].",
            _plain_ip(address),
            ", ".join(str(n) for n in self._networks),
        )

    def _reject(self, source: str, address: str, reason: str) -> None:
        self.rejected_count += 1
        log.warning("Upload %s from %s ignored: %s", source, _plain_ip(address), reason)
        if self._on_rejected is not None:
            try:
                self._on_rejected(source, reason)
            except Exception:
                log.exception("The handler for rejected uploads failed.")

    def _upload_finished(self, address: str, buffer: _UploadBuffer) -> None:
        source = buffer.name.lstrip("/")
        try:
            measurement = parse_document(
                buffer.getvalue(), source=source, received_at=self._clock()
            )
        except FroniusDataError as exc:
            self._reject(source, address, str(exc))
            return
        self.accepted_count += 1
        log.debug("Upload %s from %s: PV %.0f W", source, address, measurement.pv_w)
        try:
            self._on_measurement(measurement)
        except Exception:
            log.exception("The handler for inverter measurements failed on %s.", source)

    def _upload_aborted(self, address: str, buffer: _UploadBuffer) -> None:
        source = buffer.name.lstrip("/")
        if buffer.too_large:
            reason = (
                f"the upload is larger than {self.max_upload_bytes} bytes and was aborted; a "
                "power-flow push is a few kB: check the push service's data format."
            )
        else:
            reason = (
                f"the upload was aborted after {buffer.size} bytes (connection lost or ABOR)."
            )
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
            {"receiver": self, "authorizer": _Authorizer(self._user, self._password)},
        )
        ioloop = IOLoop()
        try:
            server = FTPServer((self.host, self.port), handler, ioloop=ioloop)
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
        # pyftpdlib counts its own listening socket as a connection.
        server.max_cons = self.max_connections + 1
        server.max_cons_per_ip = self.max_connections_per_ip
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
                try:
                    ioloop.poll(0.05)
                    ioloop.sched.poll()
                except Exception:
                    # One broken connection must not end the service's data input.
                    log.exception("The FTP receiver hit an unexpected error; it keeps serving.")
                    self._stop.wait(0.05)
        finally:
            ioloop.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._thread = None
        self._server = None
        self._ioloop = None
