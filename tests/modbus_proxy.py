"""A Modbus TCP proxy on loopback that injects faults into chosen registers.

Between a driver and a simulated box: each request frame is read whole (MBAP header + PDU), the
registers it touches are worked out (functions 3, 4, 6 and 16), and a fault set for any of them
applies: "delay" (the answer waits `delay_s`), "drop" (no answer at all), "reset" (the connection
is closed), "corrupt" (the answer's data bytes are inverted) or "refuse" (exception 4, device
failure, without asking the box). `every` applies one fault to every request (every="delay": a
slow box). Other requests pass untouched. `faults` and `every` may be changed while it runs;
`seen` counts the faults applied. Real sockets, port 0, stopped by `close()`.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

FAULTS = ("delay", "drop", "reset", "corrupt", "refuse")


def registers(pdu: bytes) -> range:
    if len(pdu) >= 5 and pdu[0] in (3, 4, 16):
        start, count = struct.unpack(">HH", pdu[1:5])
        return range(start, start + count)
    if len(pdu) >= 3 and pdu[0] == 6:
        start = struct.unpack(">H", pdu[1:3])[0]
        return range(start, start + 1)
    return range(0)


def read_frame(sock: socket.socket) -> bytes | None:
    head = _read_exactly(sock, 7)
    if head is None:
        return None
    length = struct.unpack(">H", head[4:6])[0]
    body = _read_exactly(sock, max(0, length - 1))
    return None if body is None else head + body


def _read_exactly(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class FaultyModbusProxy:
    def __init__(self, target_port: int, host: str = "127.0.0.1", delay_s: float = 0.5,
                 every: str | None = None):
        self.target = (host, target_port)
        self.delay_s, self.every = delay_s, every
        self.faults: dict[int, str] = {}
        self.seen: dict[str, int] = {f: 0 for f in FAULTS}
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="faulty-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                near, _ = self._listener.accept()
                far = socket.create_connection(self.target, timeout=5)
            except OSError:
                continue
            self._sockets += [near, far]
            threading.Thread(target=self._serve, args=(near, far), daemon=True).start()

    def _fault_for(self, frame: bytes) -> str | None:
        if self.every:
            return self.every
        faults = dict(self.faults)
        for register in registers(frame[7:]):
            if register in faults:
                return faults[register]
        return None

    def _serve(self, near: socket.socket, far: socket.socket) -> None:
        try:
            while (frame := read_frame(near)) is not None:
                fault = self._fault_for(frame)
                if fault:
                    self.seen[fault] += 1
                if fault == "reset":
                    break
                if fault == "drop":
                    continue
                if fault == "refuse":
                    near.sendall(frame[:4] + struct.pack(">H", 3) + frame[6:7] + bytes([frame[7] | 0x80, 4]))
                    continue
                far.sendall(frame)
                answer = read_frame(far)
                if answer is None:
                    break
                if fault == "delay":
                    time.sleep(self.delay_s)
                if fault == "corrupt":
                    answer = answer[:9] + bytes(b ^ 0xFF for b in answer[9:])
                near.sendall(answer)
        except OSError:
            pass
        for s in (near, far):
            try:
                s.close()
            except OSError:
                pass

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self) -> "FaultyModbusProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
