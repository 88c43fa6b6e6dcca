"""What any input to the Fronius parser may give: a FroniusDataError with a reason, or a
Measurement whose powers are finite and physically bounded (tests only)."""

from __future__ import annotations

import math

from appliance.sources.fronius import MAX_POWER_W, FroniusDataError, Measurement, parse_document


def check_outcome(data, source: str = "fuzz") -> None:
    try:
        m = parse_document(data, source=source, received_at=1.0)
    except FroniusDataError as exc:
        assert str(exc)
        return
    assert isinstance(m, Measurement)
    assert math.isfinite(m.pv_w) and 0.0 <= m.pv_w <= MAX_POWER_W
    for value in (m.grid_w, m.load_w, m.battery_w):
        assert value is None or (math.isfinite(value) and abs(value) <= MAX_POWER_W)
    assert m.kind in ("powerflow", "inverter")
