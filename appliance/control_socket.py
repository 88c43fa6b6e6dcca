"""Control from the shell: a Unix socket the running service listens on (never the network).

Protocol: one JSON object per line each way, any number of requests on one connection.

    {"command": "status"}                      -> the service's status dict
    {"command": "mode", "mode": "pv"}          -> {"ok": true, "mode": "pv", "previous_mode": "fast", ...}
    {"command": "pause", "minutes": 10}        -> {"ok": true, "paused": true, "pause_until_epoch_s": ...}
    {"command": "pause", "minutes": null}      -> paused until resumed (0 means the same)
    {"command": "resume"}                      -> {"ok": true, "paused": false, "was_paused": ...}

Problems come back as {"ok": false, "error": "<a sentence naming the fix>"}.

Who may change things: the socket file is 0660 and owned by the service's user and group, so only
they (and root) can connect at all. Change commands are checked once more against the peer's
credentials (SO_PEERCRED): root, the service's own user, or a member of the socket's group.
"status" is answered to anyone who can connect.
"""

from __future__ import annotations

import grp
import json
import logging
import os
import socket
import stat
import struct
import threading
from pathlib import Path
from typing import Callable

from .commands import validate_socket_request as validate
from .control_loop import ClientLoop
from .input_limits import REQUEST_LIMITS, RejectCounter, json_problem, reason_kind
from .policy.types import CHANGE_COMMANDS, SOCKET_COMMANDS

log = logging.getLogger(__name__)

COMMANDS = SOCKET_COMMANDS
MAX_LINE_BYTES = REQUEST_LIMITS.max_bytes
MAX_CLIENTS = 16  # at once; shell commands connect for a moment, so this is plenty
CLIENT_TIMEOUT_S = 10.0
NOT_RUNNING_HINT = "Is the service running? systemctl status wallbox"


class ControlError(Exception):
    """The service could not be asked, or refused: the message says what to do."""

    def __init__(self, message: str, answer: dict | None = None):
        super().__init__(message)
        self.answer = answer


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def permission_message(group: str = "wallbox") -> str:
    return f"Only root and members of group {group} may change the mode: run with sudo"


def may_change(peer_uid: int, peer_gid: int, peer_groups: tuple[int, ...] | list[int] | set[int], *,
               server_uid: int, socket_gid: int | None) -> bool:
    """Whether a peer with these credentials may change the mode or pause."""
    if peer_uid == 0 or peer_uid == server_uid:
        return True
    if socket_gid is None:
        return False
    return peer_gid == socket_gid or socket_gid in peer_groups


def peer_credentials(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket (Linux SO_PEERCRED)."""
    size = struct.calcsize("3i")
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, size)
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def supplementary_groups(pid: int) -> tuple[int, ...]:
    """The supplementary groups of a process, from /proc/<pid>/status; () if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Groups:"):
                    return tuple(int(g) for g in line.split()[1:] if g.isdigit())
    except OSError:
        pass
    return ()


class ControlServer:
    """Listens on a Unix socket in one background thread and answers each request line.

    At most MAX_CLIENTS connections are served at once (control_loop.ClientLoop); requests are
    limited in size, nesting and digits before they are parsed (input_limits).

    `handler` gets validated commands ({"command": "status"}, {"command": "mode", "mode": "pv"},
    {"command": "pause", "minutes": 10.0 or None}, {"command": "resume"}) from a background
    thread, never two at once, and returns the answer dict ("ok" defaults to true). Change
    commands reach it only from peers allowed to change things.
    """

    def __init__(self, path: str | Path, handler: Callable[[dict], dict], *, group: str | None = None,
                 mode: int = 0o660):
        self.path = Path(path)
        self.handler = handler
        self.group = group
        self.mode = mode
        self.server_uid = os.geteuid()
        self.socket_gid: int | None = None
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._inode: int | None = None
        self._loop: ClientLoop | None = None
        self.rejected = RejectCounter()  # requests refused, per kind of reason
        # The one serving thread calls the handler; the lock keeps that true for any caller.
        self._handler_lock = threading.Lock()

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Binds the socket (replacing a stale socket file), sets its mode and group, starts."""
        if self._thread:
            raise RuntimeError("ControlServer already started")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(self.path))
            gid = -1
            if self.group is not None:
                try:
                    gid = grp.getgrnam(self.group).gr_gid
                except KeyError:
                    raise ValueError(f"Group {self.group!r} does not exist: create it "
                                     f"(groupadd {self.group}) or set no group.") from None
            if gid != -1:
                os.chown(self.path, -1, gid)
            os.chmod(self.path, self.mode)
            st = os.stat(self.path)
            self.socket_gid = st.st_gid
            self._inode = st.st_ino
            sock.listen(2 * MAX_CLIENTS)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._wake_r, self._wake_w = os.pipe()
        self._stopping.clear()
        # Made here, not in the thread: its selector needs a descriptor, and so start() fails
        # loudly instead of a thread dying later when the descriptors are gone.
        self._loop = ClientLoop(sock, self._wake_r, self._answer, peer_credentials,
                                max_clients=MAX_CLIENTS, max_line_bytes=MAX_LINE_BYTES,
                                idle_timeout_s=CLIENT_TIMEOUT_S)
        self._thread = threading.Thread(target=self._serve, name="control-socket", daemon=True)
        self._thread.start()
        log.info("Listening for commands on %s (group %s, mode %o).", self.path,
                 group_name(self.socket_gid), self.mode)

    def _remove_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise FileExistsError(f"{self.path} exists and is not a socket: remove it or set "
                                  "state.control_socket to another path.")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(self.path))
        except OSError:
            # Nobody listens: left behind by a service that was killed or lost power.
            os.unlink(self.path)
            log.info("Removed the stale control socket %s left by an earlier run.", self.path)
            return
        finally:
            probe.close()
        raise RuntimeError(f"Another wallbox service already listens on {self.path}: stop it "
                           "first (systemctl stop wallbox).")

    def stop(self) -> None:
        """Stops listening, closes open connections and removes the socket file. Returns promptly."""
        thread = self._thread
        if not thread:
            return
        self._stopping.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        thread.join(timeout=5)
        self._thread = None
        if self._sock:
            self._sock.close()
            self._sock = None
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1
        try:
            # Only remove our own socket, not one a newer service bound meanwhile.
            if os.lstat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "ControlServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- serving -----------------------------------------------------------------------------

    def _serve(self) -> None:
        assert self._loop is not None
        self._loop.run(self._stopping.is_set)

    def _answer(self, line: bytes, peer: tuple[int, int, int]) -> dict:
        pid, uid, gid = peer
        problem = json_problem(line, REQUEST_LIMITS)
        if problem:
            self.rejected.count(reason_kind(problem))
            return {"ok": False, "error": f"Request refused: {problem}. Send one short JSON object "
                                          'per line, e.g. {"command": "status"}.'}
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self.rejected.count("json")
            return {"ok": False, "error": f"Not valid JSON ({e}): send one JSON object per line, "
                                          'e.g. {"command": "status"}.'}
        command, error = validate(request)
        if command is None:
            self.rejected.count("invalid")
            return {"ok": False, "error": error}
        if command["command"] in CHANGE_COMMANDS:
            groups = supplementary_groups(pid) if pid > 0 else ()
            if not may_change(uid, gid, groups, server_uid=self.server_uid, socket_gid=self.socket_gid):
                log.warning("Refused %s from user %s (pid %s): not root and not in group %s.",
                            command["command"], uid, pid, group_name(self.socket_gid or 0))
                return {"ok": False, "denied": True,
                        "error": permission_message(group_name(self.socket_gid)
                                                    if self.socket_gid is not None else "wallbox")}
        try:
            with self._handler_lock:
                answer = self.handler(command)
        except Exception as e:  # the service must keep running whatever a handler does
            log.exception("The %s command failed.", command["command"])
            return {"ok": False, "error": f"The service could not carry out {command['command']}: {e}. "
                                          "See journalctl -u wallbox."}
        if not isinstance(answer, dict):
            return {"ok": False, "error": "The service gave no answer; see journalctl -u wallbox."}
        answer.setdefault("ok", True)
        return answer


def send_command(path: str | Path, command: str, *, timeout_s: float = 5.0, **args) -> dict:
    """Sends one command to the running service and returns its answer.

    Raises ControlError with a readable message when the service is not running, when the caller
    may not change things, or when the service answers with an error.
    """
    path = Path(path)
    request = {"command": command, **args}
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"The wallbox service does not answer on {path}. {NOT_RUNNING_HINT}") from None
        except PermissionError:
            raise ControlError(permission_message(_socket_group(path))) from None
        except socket.timeout:
            raise ControlError(f"The wallbox service did not accept the connection on {path} within "
                               f"{timeout_s:g} s. {NOT_RUNNING_HINT}") from None
        except OSError as e:
            raise ControlError(f"Cannot reach the wallbox service on {path} ({e.strerror or e}). "
                               f"{NOT_RUNNING_HINT}") from None
        try:
            sock.sendall(json.dumps(request).encode("utf-8") + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            raise ControlError(f"The wallbox service did not answer within {timeout_s:g} s. "
                               f"{NOT_RUNNING_HINT}") from None
        except OSError as e:
            raise ControlError(f"The connection to the wallbox service broke ({e.strerror or e}). "
                               f"{NOT_RUNNING_HINT}") from None
    finally:
        sock.close()
    try:
        answer = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlError(f"The wallbox service gave an unreadable answer on {path}. "
                           f"{NOT_RUNNING_HINT}") from None
    if not isinstance(answer, dict):
        raise ControlError(f"The wallbox service gave an unreadable answer on {path}.")
    if answer.get("ok") is False:
        raise ControlError(str(answer.get("error") or "The wallbox service refused the command."), answer)
    return answer


def _socket_group(path: Path) -> str:
    try:
        return group_name(os.stat(path).st_gid)
    except OSError:
        return "wallbox"
