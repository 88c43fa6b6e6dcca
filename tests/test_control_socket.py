"""The control socket over a real Unix socket: round trips, validation, permissions, life cycle."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
from pathlib import Path

import pytest

from appliance.cli_control import describe_answer, format_status, register
from appliance.control_socket import (ControlError, ControlServer, may_change, send_command,
                                      supplementary_groups, validate)
from appliance.state import ApplianceState, StateStore, apply_command
from control_client import raw_exchange

NOBODY = 65534


class ToyService:
    """What the service does with commands: state in memory, the status built from it."""

    def __init__(self, now_epoch_s: float = 1_790_000_000.0):
        self.state = ApplianceState("fast")
        self.now_epoch_s = now_epoch_s
        self.calls: list[dict] = []

    def handle(self, command: dict) -> dict:
        self.calls.append(command)
        if command["command"] == "status":
            return {"ok": True, "mode": self.state.mode, "paused": self.state.paused,
                    "setpoint_a": 0 if self.state.paused else 16, "pv_w": 5600.0}
        self.state, answer = apply_command(self.state, command, now_epoch_s=self.now_epoch_s)
        return answer


@pytest.fixture
def served(tmp_path):
    service = ToyService()
    server = ControlServer(tmp_path / "run" / "control.sock", service.handle)
    server.start()
    yield server, service
    server.stop()


def test_round_trips(served):
    server, service = served
    status = send_command(server.path, "status")
    assert status == {"ok": True, "mode": "fast", "paused": False, "setpoint_a": 16, "pv_w": 5600.0}

    answer = send_command(server.path, "mode", mode="pv")
    assert answer["mode"] == "pv" and answer["previous_mode"] == "fast"
    assert send_command(server.path, "status")["mode"] == "pv"

    answer = send_command(server.path, "pause", minutes=10)
    assert answer["paused"] is True
    assert answer["pause_until_epoch_s"] == pytest.approx(service.now_epoch_s + 600)
    assert send_command(server.path, "status")["setpoint_a"] == 0

    answer = send_command(server.path, "pause", minutes=None)
    assert answer["pause_until_epoch_s"] is None
    answer = send_command(server.path, "resume")
    assert answer["paused"] is False and answer["was_paused"] is True
    assert service.state == ApplianceState("pv")


def test_socket_file_mode(served):
    server, _ = served
    st = os.stat(server.path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert server.socket_gid == st.st_gid


def test_several_requests_on_one_connection_and_bad_input(served):
    server, service = served
    answers = raw_exchange(
        server.path,
        b'{"command": "status"}\n',
        b'this is not json\n',
        b'["status"]\n',
        b'{"command": "reboot"}\n',
        b'{"command": "mode", "mode": "turbo"}\n',
        b'{"command": "mode"}\n',
        b'{"command": "pause", "minutes": -5}\n',
        b'{"command": "pause", "minutes": "ten"}\n',
        b'{"command": "pause", "minutes": 0}\n',
    )
    assert len(answers) == 9
    assert answers[0]["ok"] is True and answers[0]["mode"] == "fast"
    assert answers[1]["ok"] is False and "Not valid JSON" in answers[1]["error"]
    assert answers[2]["ok"] is False and "one JSON object" in answers[2]["error"]
    assert answers[3]["ok"] is False and "Unknown command 'reboot'" in answers[3]["error"]
    assert "status, mode, pause, resume" in answers[3]["error"]
    assert answers[4]["ok"] is False and "Unknown mode 'turbo'" in answers[4]["error"]
    assert "fast, pv, minpv, off" in answers[4]["error"]
    assert answers[5]["ok"] is False and "Unknown mode None" in answers[5]["error"]
    assert answers[6]["ok"] is False and "minutes" in answers[6]["error"]
    assert answers[7]["ok"] is False
    # 0 minutes = until resumed, as in the settings file.
    assert answers[8]["ok"] is True and answers[8]["pause_until_epoch_s"] is None
    # Only valid commands reached the service.
    assert [c["command"] for c in service.calls] == ["status", "pause"]
    assert service.calls[1] == {"command": "pause", "minutes": None}


def test_errors_are_raised_readably_by_the_client(served):
    server, _ = served
    with pytest.raises(ControlError, match="Unknown mode 'turbo'") as info:
        send_command(server.path, "mode", mode="turbo")
    assert info.value.answer["ok"] is False


def test_handler_failure_is_an_answer_not_a_crash(tmp_path):
    def broken(command):
        raise RuntimeError("wallbox link is down")

    with ControlServer(tmp_path / "c.sock", broken) as server:
        with pytest.raises(ControlError, match="wallbox link is down"):
            send_command(server.path, "status")
        # Still serving afterwards.
        with pytest.raises(ControlError, match="could not carry out"):
            send_command(server.path, "resume")


def test_not_running_gives_the_hint(tmp_path):
    with pytest.raises(ControlError, match=r"Is the service running\? systemctl status wallbox"):
        send_command(tmp_path / "missing.sock", "status")
    # A socket file nobody listens on (service killed) says the same.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "stale.sock"))
    stale.close()
    with pytest.raises(ControlError, match="systemctl status wallbox"):
        send_command(tmp_path / "stale.sock", "status")


def test_stale_socket_file_is_replaced_at_start(tmp_path):
    path = tmp_path / "control.sock"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))  # bound, never listening: what a killed service leaves
    leftover.close()
    assert path.exists()
    with ControlServer(path, ToyService().handle) as server:
        assert send_command(server.path, "status")["mode"] == "fast"
    assert not path.exists()  # stop() cleans up


def test_a_live_service_is_not_displaced(served):
    server, _ = served
    second = ControlServer(server.path, ToyService().handle)
    with pytest.raises(RuntimeError, match="already listens"):
        second.start()
    assert send_command(server.path, "status")["ok"] is True


def test_a_regular_file_is_not_deleted(tmp_path):
    path = tmp_path / "control.sock"
    path.write_text("important")
    with pytest.raises(FileExistsError, match="not a socket"):
        ControlServer(path, ToyService().handle).start()
    assert path.read_text() == "important"


def test_stop_is_prompt_even_with_an_idle_client_connected(tmp_path):
    server = ControlServer(tmp_path / "c.sock", ToyService().handle)
    server.start()
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(str(server.path))
    idle.sendall(b'{"command": "stat')  # half a request, then silence
    time.sleep(0.05)
    t0 = time.monotonic()
    server.stop()
    elapsed_s = time.monotonic() - t0
    idle.close()
    # Well under the 1 s accept poll and the 10 s idle-client timeout: stop() does not wait them out.
    assert elapsed_s < 0.9, elapsed_s
    assert not server.path.exists()
    assert not any(t.name == "control-socket" for t in threading.enumerate())


def test_handler_is_never_called_twice_at_once(tmp_path):
    inside = 0
    most_inside = 0
    guard = threading.Lock()

    def slow(command):
        nonlocal inside, most_inside
        with guard:
            inside += 1
            most_inside = max(most_inside, inside)
        time.sleep(0.02)
        with guard:
            inside -= 1
        return {"mode": "fast"}

    with ControlServer(tmp_path / "c.sock", slow) as server:
        answers = []
        clients = [threading.Thread(target=lambda: answers.append(send_command(server.path, "status")))
                   for _ in range(6)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(timeout=10)
    assert len(answers) == 6 and all(a == {"ok": True, "mode": "fast"} for a in answers)
    assert most_inside == 1


def test_group_that_does_not_exist_is_reported(tmp_path):
    server = ControlServer(tmp_path / "c.sock", ToyService().handle, group="no-such-group-xyz")
    with pytest.raises(ValueError, match="groupadd no-such-group-xyz"):
        server.start()


@pytest.mark.parametrize("uid, gid, groups, expected", [
    (0, 0, (), True),                      # root
    (0, 1234, (), True),                   # root with another primary group
    (998, 998, (), True),                  # the service's own user
    (1000, 997, (), True),                 # primary group is the socket's group
    (1000, 1000, (27, 997), True),         # supplementary member of the socket's group
    (1000, 1000, (27, 100), False),        # an ordinary user
    (NOBODY, NOBODY, (), False),
])
def test_peer_credential_decision(uid, gid, groups, expected):
    assert may_change(uid, gid, groups, server_uid=998, socket_gid=997) is expected


def test_peer_credential_decision_without_a_group():
    assert may_change(1000, 1000, (1000,), server_uid=998, socket_gid=None) is False
    assert may_change(998, 1000, (), server_uid=998, socket_gid=None) is True


def test_supplementary_groups_of_this_process():
    assert set(supplementary_groups(os.getpid())) == set(os.getgroups())
    assert supplementary_groups(2 ** 22 + 12345) == ()  # no such process


def test_validate_normalises():
    assert validate({"command": "pause"}) == ({"command": "pause", "minutes": None}, "")
    assert validate({"command": "pause", "minutes": 12.5}) == ({"command": "pause", "minutes": 12.5}, "")
    assert validate({"command": "resume", "extra": 1}) == ({"command": "resume"}, "")
    assert validate({"command": "pause", "minutes": True})[0] is None


def _as_nobody(fn) -> dict:
    """Runs fn() in a forked child that dropped to user and group nobody; returns what fn returned."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result = fn()
        except BaseException as e:  # noqa: BLE001 - report everything to the parent
            result = {"child_error": f"{type(e).__name__}: {e}"}
            code = 1
        os.write(w, json.dumps(result).encode())
        os.close(w)
        os._exit(code)
    os.close(w)
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def _try(path, command, **args) -> dict:
    try:
        return {"answer": send_command(path, command, **args)}
    except ControlError as e:
        return {"error": str(e)}


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to become nobody")
def test_an_ordinary_user_is_refused_changes():
    # tmp_path sits in a root-only directory; nobody needs to reach the socket.
    directory = Path(tempfile.mkdtemp(prefix="wallbox-ctl-"))
    directory.chmod(0o755)
    service = ToyService()
    try:
        # Socket open to everyone: the peer-credential check is what refuses the change.
        with ControlServer(directory / "open.sock", service.handle, mode=0o666) as server:
            result = _as_nobody(lambda: _try(server.path, "mode", mode="off"))
            assert "Only root and members of group root may change the mode: run with sudo" \
                in result["error"], result
            result = _as_nobody(lambda: _try(server.path, "status"))
            assert result["answer"]["mode"] == "fast", result
            assert service.state.mode == "fast"
            assert send_command(server.path, "mode", mode="off")["mode"] == "off"  # root may

        # The default 0660 socket: nobody cannot even connect, and is told why.
        with ControlServer(directory / "closed.sock", service.handle) as server:
            result = _as_nobody(lambda: _try(server.path, "status"))
            assert "Only root and members of group root" in result["error"], result
            assert "sudo" in result["error"]
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown and setuid")
def test_members_of_the_socket_group_may_change():
    import grp

    try:
        group = grp.getgrgid(NOBODY).gr_name
    except KeyError:
        pytest.skip("no group with gid 65534 here")
    directory = Path(tempfile.mkdtemp(prefix="wallbox-ctl-"))
    directory.chmod(0o755)
    service = ToyService()
    try:
        with ControlServer(directory / "control.sock", service.handle, group=group) as server:
            st = os.stat(server.path)
            assert st.st_gid == NOBODY and stat.S_IMODE(st.st_mode) == 0o660
            result = _as_nobody(lambda: _try(server.path, "mode", mode="minpv"))
            assert result["answer"]["mode"] == "minpv", result
            assert service.state.mode == "minpv"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# -- wallbox status|mode|pause|resume: the command line against a real socket ---------------


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wallbox")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


class StoredService:
    """Keeps its state in a StateStore as the service does; status with units in the key names."""

    def __init__(self, state_dir):
        self.store = StateStore(state_dir, "fast")
        self.state = self.store.load()

    def handle(self, command: dict) -> dict:
        import time

        if command["command"] == "status":
            return {"ok": True, "mode": self.state.mode, "paused": self.state.paused,
                    "pause_until_epoch_s": self.state.pause_until_epoch_s,
                    "setpoint_a": 0 if self.state.paused else 16, "pv_w": 5600.0, "car_connected": True,
                    "wallbox": {"link": "up", "alive_age_s": 2.0}}
        self.state, answer = apply_command(self.state, command, now_epoch_s=time.time())
        self.store.save(self.state)
        return answer


@pytest.fixture
def stored_service(tmp_path):
    toy = StoredService(tmp_path / "state")
    server = ControlServer(tmp_path / "control.sock", toy.handle)
    server.start()
    yield toy, server
    server.stop()


def test_mode_pause_resume_status(stored_service, capsys, tmp_path):
    toy, server = stored_service
    sock = ["--socket", str(server.path)]

    assert run(["mode", "pv", *sock]) == 0
    assert capsys.readouterr().out == "Mode is now pv (was fast).\n"
    assert run(["mode", "pv", *sock]) == 0
    assert capsys.readouterr().out == "Mode is already pv.\n"

    assert run(["pause", "--minutes", "10", *sock]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Charging paused for 10 min, until ") and "wallbox resume" in out

    assert run(["status", *sock]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [
        "mode", "paused", "pause until", "setpoint", "pv", "car connected", "wallbox link",
        "wallbox alive age"]
    values = {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}
    assert values["mode"] == "pv" and values["paused"] == "yes"
    assert re.fullmatch(r"\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d", values["pause until"])
    assert values["setpoint"] == "0 A" and values["pv"] == "5600 W"
    assert values["car connected"] == "yes" and values["wallbox link"] == "up"
    assert values["wallbox alive age"] == "2 s"
    # Aligned: every value starts in the same column.
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}) == 1

    assert run(["pause", *sock]) == 0
    assert capsys.readouterr().out == "Charging paused until you resume it: wallbox resume.\n"
    assert run(["resume", *sock]) == 0
    assert capsys.readouterr().out == "Charging resumed (mode pv).\n"
    assert run(["resume", *sock]) == 0
    assert capsys.readouterr().out == "Charging was not paused (mode pv).\n"
    # The service kept its state on disk (survives a restart).
    assert StateStore(tmp_path / "state", "fast").load() == ApplianceState("pv")


def test_socket_path_from_the_settings_file(stored_service, capsys, tmp_path):
    _, server = stored_service
    config = tmp_path / "wallbox.toml"
    config.write_text(f'[state]\ncontrol_socket = "{server.path}"\n')
    assert run(["mode", "off", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "Mode is now off (was fast).\n"


def test_service_not_running_exits_1_with_the_hint(tmp_path, capsys):
    for argv in (["status"], ["mode", "pv"], ["pause"], ["resume"]):
        assert run([*argv, "--socket", str(tmp_path / "none.sock")]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "Is the service running? systemctl status wallbox" in captured.err
    # An unreadable settings file falls back to the default socket path, named in the message.
    if not Path("/run/wallbox/control.sock").exists():
        assert run(["status", "--config", str(tmp_path / "missing.toml")]) == 1
        assert "/run/wallbox/control.sock" in capsys.readouterr().err


def test_refused_change_exits_1(tmp_path, capsys):
    def refuse(command):
        return {"ok": False, "error": "Only root and members of group wallbox may change the mode: "
                                      "run with sudo"}

    with ControlServer(tmp_path / "c.sock", refuse) as server:
        assert run(["mode", "fast", "--socket", str(server.path)]) == 1
    assert "run with sudo" in capsys.readouterr().err


def test_bad_arguments_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        run(["mode", "turbo"])
    assert "invalid choice: 'turbo'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run(["pause", "--minutes", "-3"])
    assert "not a number of minutes" in capsys.readouterr().err


def test_format_status_units_and_empty_values():
    lines = format_status({"ok": True, "allowance_w": 11000, "pv_age_s": 3.25, "energy_kwh": 12.34,
                           "grid_w": None, "faults": [], "voltage_v": 230.0}, now_epoch_s=0)
    assert lines == ["allowance: 11000 W", "pv age:    3.2 s", "energy:    12.3 kWh", "grid:      -",
                     "faults:    -", "voltage:   230 V"]


def test_describe_answer_mode_while_paused():
    text = describe_answer("mode", {"ok": True, "mode": "minpv", "previous_mode": "pv", "paused": True,
                                    "pause_until_epoch_s": None})
    assert text == "Mode is now minpv (was pv). Charging stays paused; wallbox resume charges now."
