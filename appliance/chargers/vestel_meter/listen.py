"""`wallbox probe` on the RS-485 port: which kind of EVC04 is on the other end?

A basic box with its Power Optimizer on polls a PRO380 meter every ~1.006 s: we hear its poll
frame. A box that answers the EMS register map as a slave stays quiet until asked: after listening
we ask it for its identity. Nothing at all: wiring, DIP switches or serial settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import pro380

METER_SENTENCE = "PRO380 polls from a wallbox (Power Optimizer on): use meter emulation (kind = \"meter\")."
EMS_SENTENCE = "EMS map answers: use kind ems (kind = \"ems\")."
SILENCE_SENTENCE = ("Nothing heard and no answer to an EMS read on {port}: check A/B (try swapping them), "
                    "the DIP switches 4-5-6 (Power Optimizer on, set with the box powered off) and the baud "
                    "rate and parity ({settings}).")
NOISE_SENTENCE = ("{count} bytes heard on {port} but no meter poll and no EMS answer: check the baud rate and "
                  "parity ({settings}; the box uses 9600 8E1) and that nothing else drives the bus.")


@dataclass(frozen=True)
class BusVerdict:
    kind: str | None            # "meter", "ems" or None
    sentence: str
    polls_heard: int = 0
    bytes_heard: int = 0
    details: dict = field(default_factory=dict)


def count_polls(data: bytes) -> int:
    return data.count(pro380.POLL_FRAME)


def _listen(port: str, baudrate: int, parity: str, stopbits: int, seconds: float) -> bytes:
    import serial

    heard = b""
    with serial.Serial(port, baudrate, bytesize=8, parity=parity, stopbits=stopbits, timeout=0.05) as bus:
        ends_at = time.monotonic() + seconds
        while time.monotonic() < ends_at:
            heard += bus.read(256)
    return heard


def _ems_identity(port: str, baudrate: int, parity: str, stopbits: int):
    from appliance.chargers.vestel_ems import VestelClient, WallboxError

    client = VestelClient.rtu(port, baudrate=baudrate, parity=parity, stopbits=stopbits, timeout_s=1.0)
    try:
        if not client.connect():
            return None
        return client.read_identity()
    except WallboxError:
        return None
    finally:
        client.close()


def listen_on_bus(port: str, baudrate: int = 9600, parity: str = "E", stopbits: int = 1,
                  seconds: float = 3.0) -> BusVerdict:
    """Listen `seconds`, then (if no poll was heard) try one EMS identity read as master."""
    settings = f"{baudrate} 8{parity}{stopbits}"
    try:
        heard = _listen(port, baudrate, parity, stopbits, seconds)
    except (OSError, ValueError) as exc:
        return BusVerdict(None, f"{port} could not be opened ({exc}): check serial_port in [wallbox] and the converter.")
    polls = count_polls(heard)
    if polls:
        return BusVerdict("meter", METER_SENTENCE, polls_heard=polls, bytes_heard=len(heard))
    identity = _ems_identity(port, baudrate, parity, stopbits)
    if identity is not None:
        return BusVerdict("ems", EMS_SENTENCE, bytes_heard=len(heard),
                          details={"brand": identity.brand, "model": identity.model, "serial": identity.serial})
    if heard:
        return BusVerdict(None, NOISE_SENTENCE.format(count=len(heard), port=port, settings=settings),
                          bytes_heard=len(heard))
    return BusVerdict(None, SILENCE_SENTENCE.format(port=port, settings=settings))
