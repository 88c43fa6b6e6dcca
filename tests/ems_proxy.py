"""A Modbus TCP proxy on loopback that holds every answer back for a while: a slow wallbox.

Requests pass at once; each chunk the box sends back waits `delay_s` before it goes on, as it would
behind a slow network module or a busy box. Real sockets, port 0, stopped by `close()`.
"""

from __future__ import annotations

import socket
import threading
import time


class DelayingProxy:
    def __init__(self, target_port: int, delay_s: float, host: str = "127.0.0.1"):
        self.target = (host, target_port)
        self.delay_s = delay_s
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="delaying-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                near, _ = self._listener.accept()
                far = socket.create_connection(self.target, timeout=5)
            except OSError:
                continue
            far.settimeout(None)
            self._sockets += [near, far]
            threading.Thread(target=self._pump, args=(near, far, 0.0), daemon=True).start()
            threading.Thread(target=self._pump, args=(far, near, self.delay_s), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay_s: float) -> None:
        try:
            while chunk := source.recv(4096):
                if delay_s:
                    time.sleep(delay_s)
                sink.sendall(chunk)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for s in self._sockets:
            s.close()

    def __enter__(self) -> DelayingProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
