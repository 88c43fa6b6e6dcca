"""A small settings file for tests that start the service: a wallbox, loopback FTP, no web page."""

from __future__ import annotations

import textwrap
from pathlib import Path

from appliance.bench.rig import free_port


def settings_file(tmp_path: Path, wallbox: str, display: str = 'backend = "none"') -> Path:
    """wallbox.toml in tmp_path: `wallbox` and `display` are the lines of those sections."""
    path = tmp_path / "wallbox.toml"
    path.write_text(textwrap.dedent(f"""
        [grid]
        allowance_w = 11000

        [wallbox]
        {wallbox}

        [fronius]
        ftp_host = "127.0.0.1"
        ftp_port = {free_port()}
        ftp_password = "startup-test"

        [display]
        {display}

        [button]
        pin = 0

        [web]
        enabled = false

        [state]
        dir = "{tmp_path / 'state'}"
        control_socket = "{tmp_path / 'control.sock'}"
    """))
    return path
