"""`wallbox probe`: the installer's check that the wallbox answers, and what it says."""

from __future__ import annotations

from .config import Settings
from .chargers.vestel_ems import CHARGEPOINT_STATES, VestelClient, WallboxError

CABLE_STATES = {0: "no cable", 1: "cable, no vehicle", 2: "vehicle connected",
                3: "vehicle connected, cable locked"}
EQUIPMENT_STATES = {0: "initializing", 1: "running", 2: "fault", 3: "disabled", 4: "updating"}


def make_client(settings: Settings) -> VestelClient:
    w = settings.wallbox
    if w.transport == "tcp":
        return VestelClient.tcp(w.host, w.port, w.unit_id)
    return VestelClient.rtu(w.serial_port, w.baudrate, w.parity, w.stopbits, w.unit_id)


def probe(settings: Settings, out=print) -> int:
    """Reads identity and live values; writes nothing. Exit code 0 = it answered, 1 = it did not."""
    client = make_client(settings)
    out(f"Connecting to the wallbox: {client.describe()} ...")
    try:
        if not client.connect():
            raise WallboxError(f"Could not open {client.describe()}: {client.fix_hint}.")
        ident = client.read_identity()
        st = client.read_status()
    except WallboxError as exc:
        out(f"No answer: {exc}")
        return 1
    finally:
        client.close()
    rows = [
        ("Brand / model", f"{ident.brand} {ident.model}"),
        ("Serial number", ident.serial),
        ("Chargepoint id", ident.chargepoint_id),
        ("Firmware", ident.firmware),
        ("Max power", f"{ident.max_power_w} W, {'3' if ident.phases else '1'}-phase"),
        ("Chargepoint state", CHARGEPOINT_STATES.get(st.chargepoint_state, str(st.chargepoint_state))),
        ("Equipment state", EQUIPMENT_STATES.get(st.equipment_state, str(st.equipment_state))),
        ("Cable", CABLE_STATES.get(st.cable_state, str(st.cable_state))),
        ("Charging", "yes" if st.charging else "no"),
        ("Fault code", str(st.fault_code)),
        ("Currents L1/L2/L3", " / ".join(f"{a:.1f} A" for a in st.currents_a)),
        ("Power", f"{st.power_w} W"),
        ("Meter", f"{st.meter_wh / 1000:.1f} kWh"),
        ("Session energy", f"{st.session_energy_wh} Wh"),
        ("Limits session/EVSE/cable", f"{st.session_max_a} / {st.evse_max_a} / {st.cable_max_a} A "
                                      f"(EVSE min {st.evse_min_a} A)"),
        ("Setpoint (read back)", f"{st.setpoint_a} A"),
        ("Failsafe", f"{st.failsafe_current_a} A after {st.failsafe_timeout_s} s"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        out(f"{key:<{width}}  {value}")
    return 0
