"""Who may hold one of the FTP receiver's connection slots, and for how long.

Anything on the LAN can open an FTP connection. Without a guard, a handful of idle connections
from elsewhere fill every slot and the inverter's pushes are locked out, and a password can be
guessed over parallel connections. The rules here:

- Every address has its own cap, and connections from addresses other than the inverter's may
  fill the slots only up to `max_connections - reserved_slots`: the inverter (the addresses in
  `allowed_ips`, or, when that is empty, the address of the last good push) always finds a slot.
- After `block_after_failures` failed logins within `block_s`, an address is refused for `block_s`
  (logged once, with the address).
- A listener that hits the open-file limit (EMFILE) backs off and tries again later instead of
  spinning, logging at most once a minute (`AcceptBackoff`).

Pure bookkeeping with an injected clock: the receiver calls it from its one server thread.
"""

from __future__ import annotations

import errno
import heapq
import ipaddress
import logging
import socket
from collections import Counter, deque
from collections.abc import Callable, Sequence

from pyftpdlib.ioloop import _Scheduler
from pyftpdlib.ioloop import timer as pyftpdlib_timer  # the clock it stamps its timers with
from pyftpdlib.servers import FTPServer

log = logging.getLogger("appliance.ftp")


def plain_ip(address: str) -> str:
    """The IPv4 address inside an IPv4-mapped IPv6 address; others unchanged."""
    return address[7:] if address.startswith("::ffff:") and "." in address else address


def parse_networks(entries: Sequence[str]) -> list:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"allowed_ips entry {entry!r} is not an IP address or network "
                '(e.g. "192.168.178.40" or "192.168.178.0/24").'
            ) from None
    return networks


def in_networks(address: str, networks: Sequence) -> bool:
    try:
        ip = ipaddress.ip_address(plain_ip(address))
    except ValueError:
        return False
    return any(ip in network for network in networks)


class Admission:
    """Connection slots per address, a reserve for the inverter, and a block after failed logins."""

    def __init__(
        self,
        *,
        max_connections: int,
        max_per_ip: int,
        reserved_slots: int,
        networks: Sequence = (),
        clock: Callable[[], float],
        block_after_failures: int = 5,
        block_s: float = 600.0,
    ) -> None:
        self.max_connections = max_connections
        self.max_per_ip = max_per_ip
        self.reserved_slots = min(reserved_slots, max_connections - 1)
        self.networks = list(networks)
        self.clock = clock
        self.block_after_failures = block_after_failures
        self.block_s = block_s
        self.last_good_ip: str | None = None
        self.open: Counter[str] = Counter()
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self.refused_count = 0
        self.blocked_count = 0

    def trusted(self, ip: str) -> bool:
        """The inverter: an address in allowed_ips, or (with none set) the last good push's."""
        ip = plain_ip(ip)
        if self.networks:
            return in_networks(ip, self.networks)
        return ip == self.last_good_ip

    def blocked(self, ip: str) -> bool:
        ip = plain_ip(ip)
        until = self._blocked_until.get(ip)
        if until is None:
            return False
        if self.clock() >= until:
            del self._blocked_until[ip]
            self._failures.pop(ip, None)
            log.info("FTP address %s may try to log in again (its 10-minute block is over).", ip)
            return False
        return True

    def admit(self, ip: str) -> str | None:
        """Take a slot for a new control connection; None when admitted, else the FTP refusal."""
        ip = plain_ip(ip)
        if self.blocked(ip):
            self.refused_count += 1
            return "421 Too many failed logins from this address; try again later."
        total = sum(self.open.values())
        if self.open[ip] >= self.max_per_ip:
            self.refused_count += 1
            return "421 Too many connections from this address."
        # Until the inverter is known (allowed_ips, or a first good push) there is no one to keep
        # slots for: everyone shares them all.
        known = bool(self.networks) or self.last_good_ip is not None
        reserve = self.reserved_slots if known and not self.trusted(ip) else 0
        limit = self.max_connections - reserve
        if total >= limit:
            self.refused_count += 1
            return "421 Too many connections. Service temporarily unavailable."
        self.open[ip] += 1
        return None

    def release(self, ip: str) -> None:
        ip = plain_ip(ip)
        if self.open[ip] > 0:
            self.open[ip] -= 1
        if self.open[ip] <= 0:
            del self.open[ip]

    def login_failed(self, ip: str) -> bool:
        """Count a failed login; True when this one blocks the address (log it once)."""
        ip = plain_ip(ip)
        now = self.clock()
        failures = self._failures.setdefault(ip, deque())
        failures.append(now)
        while failures and now - failures[0] > self.block_s:
            failures.popleft()
        if len(failures) >= self.block_after_failures and ip not in self._blocked_until:
            self._blocked_until[ip] = now + self.block_s
            self.blocked_count += 1
            log.warning(
                "FTP address %s is blocked for %.0f minutes after %d failed logins. If this is the "
                "inverter, check ftp_user and ftp_password in [fronius] against its push service.",
                ip, self.block_s / 60, len(failures),
            )
            return True
        return False

    def upload_accepted(self, ip: str) -> None:
        """A good push: this address is the inverter's (when allowed_ips is empty)."""
        ip = plain_ip(ip)
        self._failures.pop(ip, None)
        self.last_good_ip = ip


class AcceptBackoff:
    """A listener out of file descriptors pauses accepting, then tries again; logs once a minute."""

    LOG_EVERY_S = 60.0

    def __init__(self, clock: Callable[[], float], *, first_s: float = 0.5, max_s: float = 10.0) -> None:
        self.clock = clock
        self.first_s = first_s
        self.max_s = max_s
        self.pause_s = first_s
        self.failures = 0
        self._suppressed = 0
        self._last_log_s: float | None = None

    def failed(self, what: str, error: OSError) -> float:
        """Count one failed accept; returns how long to stop accepting."""
        self.failures += 1
        now = self.clock()
        if self._last_log_s is None or now - self._last_log_s >= self.LOG_EVERY_S:
            more = f" ({self._suppressed} more since the last message)" if self._suppressed else ""
            log.error(
                "%s cannot accept connections: %s%s. Pausing %.1f s; too many open connections or files "
                "in the service (see the connection caps).", what, error.strerror or error, more, self.pause_s,
            )
            self._last_log_s, self._suppressed = now, 0
        else:
            self._suppressed += 1
        pause_s = self.pause_s
        self.pause_s = min(self.pause_s * 2, self.max_s)
        return pause_s

    def succeeded(self) -> None:
        if self.pause_s != self.first_s:
            log.info("Accepting connections again.")
        self.pause_s = self.first_s


class GuardedFTPServer(FTPServer):
    """An FTP server whose listener survives running out of file descriptors."""

    receiver: object  # the FtpReceiver, set after creation

    def handle_accept(self):
        try:
            sock, addr = self.accept()
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                self.receiver._pause_accepting(err)
            elif err.errno not in (errno.ECONNABORTED, errno.EAGAIN):
                log.warning("The FTP listener could not accept a connection: %s.", err)
            return
        except TypeError:
            return
        self.receiver.accept_backoff.succeeded()
        if addr is not None:
            self.handle_accepted(sock, addr)


class PromptScheduler(_Scheduler):
    """pyftpdlib's timer heap, without wakeups for timers that no longer matter.

    pyftpdlib leaves a cancelled timer in its heap until the moment it would have fired, and a
    reset() one at its old place: every connection (login timer, idle timers of the control and
    data channels) then woke the idle loop once or twice more, 15 to 120 s after it had closed (at
    a push every 0.5 s, 4.5 wakeups a second with nothing connected). Here the heap is rebuilt
    from the live timers on every pass, so the loop sleeps until the next timer that will really
    run, and with no connection open it has none: it sleeps until a socket is ready. The heap
    holds a few timers per open connection, so rebuilding it costs microseconds."""

    def poll(self):
        now = pyftpdlib_timer()
        live = [task for task in self._tasks if not task.cancelled]
        for task in live:
            task._repush = False   # reset() moved its time; the rebuilt heap already knows
        self._tasks = [task for task in live if task.timeout > now]
        heapq.heapify(self._tasks)
        self._cancellations = 0
        due = sorted((task for task in live if task.timeout <= now), key=lambda task: task.timeout)
        for task in due:
            if task.cancelled:   # an earlier call in this pass cancelled it
                continue
            try:
                task.call()
            except Exception:
                log.exception("An FTP receiver timer failed; the receiver goes on.")
        timeouts = [task.timeout for task in self._tasks if not task.cancelled]
        return max(0.0, min(timeouts) - pyftpdlib_timer()) if timeouts else None


class Waker:
    """The read end of a socket pair in the FTP loop: lets stop() end a poll that waits forever."""

    def __init__(self) -> None:
        self.reader, self.writer = socket.socketpair()
        self.reader.setblocking(False)
        self.writer.setblocking(False)
        self._fileno = self.reader.fileno()  # pyftpdlib's IOLoop.close() sorts by it

    def readable(self):
        return True

    def handle_read_event(self):
        try:
            self.reader.recv(64)
        except OSError:
            pass

    def handle_close(self):
        pass

    def wake(self) -> None:
        try:
            self.writer.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


def parse_port_range(text: str | Sequence[int] | None) -> list[int] | None:
    """ "50000-50009" -> [50000, ..., 50009]; empty -> None (any port)."""
    if text is None or text == "" or text == ():
        return None
    if not isinstance(text, str):
        return [int(p) for p in text]
    first, sep, last = text.partition("-")
    try:
        low, high = int(first), int(last if sep else first)
    except ValueError:
        raise ValueError(f'passive_ports {text!r} is not a port range: write e.g. "50000-50009".') from None
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"passive_ports {text!r} must lie within 1024-65535, low to high.")
    return list(range(low, high + 1))
