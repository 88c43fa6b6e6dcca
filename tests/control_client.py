"""Raw lines to the control socket on one connection, and the answers back (tests only)."""

from __future__ import annotations

import json
import socket


def raw_exchange(path, *lines: bytes, timeout_s: float = 5.0) -> list[dict]:
    """Sends raw lines on one connection, returns one parsed answer per line (fewer when the
    server closed the connection early, as after a request that is too long)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout_s)
        s.connect(str(path))
        try:
            s.sendall(b"".join(lines))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered a too-long request and closed before reading all of it
        data = b""
        while data.count(b"\n") < len(lines):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return [json.loads(line) for line in data.splitlines()]
