"""A pymodbus server (asyncio) served from its own thread until stop().

The emulated meter of a basic box, the simulated EMS wallbox and the simulated GEN24 all serve
Modbus this way: the server runs on an event loop of its own, so a busy control loop never
delays an answer, and stop() ends it from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class ServerStartError(RuntimeError):
    """The server could not start (port busy, device missing); `__cause__` says why."""


class ModbusServerThread:
    def __init__(self, name: str, *, tick: Callable[[], None] | None = None, tick_s: float = 0.25) -> None:
        self.name = name
        self.tick, self.tick_s = tick, tick_s   # called every tick_s while serving (simulators)
        self.server = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, make_server: Callable[[], object], timeout_s: float = 10.0) -> int | None:
        """Starts `make_server()` (a pymodbus server) in the thread; returns its TCP port (None on
        a serial line). Raises ServerStartError when it cannot serve."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already serving; stop() it first.")
        ready, result = threading.Event(), {}
        self._thread = threading.Thread(target=self._serve, args=(make_server, ready, result),
                                        name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s) or "error" in result:
            error = result.get("error")
            self.stop(5.0)
            raise ServerStartError(str(error) if error else f"no start within {timeout_s:g} s") from error
        return result.get("port")

    def _serve(self, make_server, ready: threading.Event, result: dict) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        async def main():
            try:
                server = make_server()
                await server.serve_forever(background=True)
            except Exception as exc:  # reported to the caller of start()
                result["error"] = exc
                ready.set()
                return
            self.server = server
            self._stopped = asyncio.Event()
            sockets = getattr(getattr(server, "transport", None), "sockets", None)
            if sockets:
                result["port"] = sockets[0].getsockname()[1]
            ready.set()
            while not self._stopped.is_set():
                if self.tick is not None:
                    self.tick()
                try:
                    await asyncio.wait_for(self._stopped.wait(), self.tick_s if self.tick else None)
                except asyncio.TimeoutError:
                    pass
            await server.shutdown()

        try:
            loop.run_until_complete(main())
        finally:
            loop.close()

    def stop(self, timeout_s: float = 10.0) -> None:
        thread, loop, stopped = self._thread, self._loop, self._stopped
        if thread is None:
            return
        if loop is not None and stopped is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout_s)
        self._thread = self._loop = self._stopped = self.server = None
