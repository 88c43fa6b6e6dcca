"""A card that refuses writes reaches the screen and the status, and the state is written once it
takes writes again."""

from __future__ import annotations

import json
import logging

from test_core import Rig

from appliance.commands import validate
from appliance.policy.control import PolicySettings
from appliance.state import StateStore
from display.screens import render


def test_a_refused_state_write_is_shown_and_written_when_the_card_takes_writes_again(tmp_path):
    blocker = tmp_path / "card"
    blocker.write_text("not a directory")           # the state directory cannot be made
    store = StateStore(blocker / "state", "fast")
    rig = Rig(PolicySettings(), store=store)
    rig.tick()
    answer = rig.core.command(validate({"command": "mode", "mode": "pv"})[0], rig.clocks())
    assert answer["ok"]
    status = rig.core.status(rig.clocks())
    assert status.storage_problem and "mode and pause not saved" in status.storage_problem
    assert status.as_dict()["storage_problem"] == status.storage_problem
    snapshot = status.snapshot(version="test", ip_address=None)
    assert snapshot.storage_problem == status.storage_problem
    render(snapshot)                                   # the warning row draws
    blocker.unlink()                                   # space again
    rig.t += 1
    rig.tick()
    assert rig.core.status(rig.clocks()).storage_problem is None
    assert json.loads((blocker / "state" / "state.json").read_text())["mode"] == "pv"


def test_the_same_mode_twice_logs_once(caplog):
    caplog.set_level(logging.INFO)
    rig = Rig(PolicySettings())
    for _ in range(50):
        rig.core.command(validate({"command": "mode", "mode": "pv"})[0], rig.clocks())
    assert sum("Mode is now pv" in r.getMessage() for r in caplog.records) == 1
