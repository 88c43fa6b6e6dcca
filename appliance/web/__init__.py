"""The appliance's local web page: live state, today's chart, sessions, controls, settings, log.

`WebServer` takes plain inputs only (a status callable, a command callable, the settings object,
the sessions CSV path, a history store and a log ring); the runtime wires them in.
"""

from .server import WebServer

__all__ = ["WebServer"]
