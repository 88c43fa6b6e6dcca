"""How long Modbus RTU transactions occupy a 9600-baud 8E1 line.

One character is 11 bits at 8E1 (start, 8 data, parity, stop): 1.146 ms at 9600 baud. A frame is
followed by a silence of 3.5 characters. An RTU frame is the PDU plus the unit id and the CRC.
"""

from __future__ import annotations

BITS_PER_CHAR_8E1 = 11
GAP_CHARS = 3.5


def char_s(baudrate: int = 9600) -> float:
    return BITS_PER_CHAR_8E1 / baudrate


def frame_bytes(function_code: int, count: int, writing: bool) -> tuple[int, int]:
    """(request, response) RTU frame sizes for one transaction."""
    if function_code in (3, 4):
        return 8, 5 + 2 * count
    if function_code == 6:
        return 8, 8
    if function_code == 16:
        return 9 + 2 * count, 8
    return 8, 8


def transaction_s(function_code: int, count: int, reply_s: float, baudrate: int = 9600) -> float:
    request, response = frame_bytes(function_code, count, function_code in (6, 16))
    return (request + response + 2 * GAP_CHARS) * char_s(baudrate) + reply_s


def line_share(transactions: list[tuple[int, int]], seconds: float, reply_s: float, baudrate: int = 9600) -> float:
    """Share of the line's time taken by (function code, register count) transactions in `seconds`."""
    busy_s = sum(transaction_s(fc, count, reply_s, baudrate) for fc, count in transactions)
    return busy_s / seconds
