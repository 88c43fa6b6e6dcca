"""`wallbox probe`: the installer's check of what answers, and what it says.

Without options it asks the wallbox of the [wallbox] settings: an EMS box (TCP or RS-485) for its
identity and live values; on the RS-485 port it also listens, so a basic box polling its energy
meter is recognised. `--inverter HOST` asks the inverter instead. Nothing is ever written.
"""

from __future__ import annotations

from collections.abc import Callable

from .chargers.vestel_ems import CHARGEPOINT_STATES, VestelClient, WallboxError
from .config import Settings

CABLE_STATES = {0: "no cable", 1: "cable, no vehicle", 2: "vehicle connected",
                3: "vehicle connected, cable locked"}
EQUIPMENT_STATES = {0: "initializing", 1: "running", 2: "fault", 3: "disabled", 4: "updating"}
LISTEN_S = 3.0


def make_client(settings: Settings) -> VestelClient:
    w = settings.wallbox
    if w.transport == "tcp":
        return VestelClient.tcp(w.host, w.port, w.unit_id)
    return VestelClient.rtu(w.serial_port, w.baudrate, w.parity, w.stopbits, w.unit_id)


def probe(settings: Settings, out: Callable[[str], None] = print, listen_s: float = LISTEN_S) -> int:
    """Exit code 0 = something answered (the output says what to set), 1 = nothing did."""
    w = settings.wallbox
    if getattr(w, "kind", "ems") == "meter":
        return listen(settings, out, listen_s)
    code = probe_ems(settings, out)
    if code != 0 and w.transport == "rtu":
        # A basic box never answers the EMS map: it is the master on this bus. Listen for its polls.
        return listen(settings, out, listen_s)
    return code


def listen(settings: Settings, out: Callable[[str], None], listen_s: float = LISTEN_S) -> int:
    """Listen on the RS-485 port for a basic box's meter polls, then try one EMS read."""
    from .chargers.vestel_meter.listen import listen_on_bus

    w = settings.wallbox
    out(f"Listening on {w.serial_port} ({w.baudrate} 8{w.parity}{w.stopbits}) for {listen_s:g} s ...")
    verdict = listen_on_bus(w.serial_port, w.baudrate, w.parity, w.stopbits, seconds=listen_s)
    if verdict.polls_heard:
        out(f"Heard {verdict.polls_heard} meter poll(s).")
    out(verdict.sentence)
    return 0 if verdict.kind else 1


def probe_ems(settings: Settings, out: Callable[[str], None] = print) -> int:
    """Reads identity and live values over the EMS map; writes nothing."""
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


def pushes_seen(control_socket: str):
    """What the running service knows of pushes (a PushFinding), or None when it is not running or
    none has arrived: only the service can tell, it holds the FTP port."""
    from .control_socket import ControlError, send_command
    from .sources.probe_inverter import PushFinding

    try:
        status = send_command(control_socket, "status", timeout_s=2.0)
    except (ControlError, OSError, ValueError):  # no service, no permission: then we do not know
        return None
    status = status.get("status", status) if isinstance(status, dict) else {}
    accepted, age_s = status.get("pushes_accepted"), status.get("pv_age_s")
    if not accepted or age_s is None:
        return None
    return PushFinding(source=f"{accepted} accepted by the running service", age_s=float(age_s))


def probe_inverter_cmd(host: str, *, http_port: int = 80, modbus_port: int = 502, inverter_unit: int = 1,
                       meter_unit: int = 200, control_socket: str | None = None,
                       out: Callable[[str], None] = print) -> int:
    """`wallbox probe --inverter HOST`: exit code 0 when a source answers, 1 when none does."""
    from .sources.probe_inverter import print_probe, probe_inverter

    out(f"Asking the inverter at {host} (Solar API on port {http_port}, SunSpec on port {modbus_port}) ...")
    push = pushes_seen(control_socket) if control_socket else None
    found = probe_inverter(host, http_port=http_port, modbus_port=modbus_port, inverter_unit=inverter_unit,
                           meter_unit=meter_unit, push=push)
    return print_probe(found, out=out)
