"""Any file whatever, given as the settings file, ends in a message that names the fix and exit code 2:
never a traceback. Named cases through the command line, random bytes and random TOML documents
through load_settings."""

import codecs
import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import tomllib
from datetime import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.cli import main
from appliance.config import EXAMPLE_PATH, SECTIONS, ConfigError, Settings, load_settings
from appliance.config_keys import Choice, Int, Num

ROOT = Path(__file__).resolve().parents[1]
VALID = EXAMPLE_PATH.read_text().replace('ftp_password = ""', 'ftp_password = "pw"')
SAVE_AS_UTF8 = "save it as UTF-8"

NAMED = {
    "latin1": ("[grid]\n# Zähler im Keller\nallowance_w = 11000\n".encode("latin-1"), "line 2"),
    "utf16": (VALID.encode("utf-16"), "UTF-16"),
    "utf16_without_bom": (VALID.encode("utf-16-le"), "binary data"),
    "utf32": (VALID.encode("utf-32"), "UTF-16 or UTF-32"),
    "binary": (bytes(range(256)) * 8, "binary data"),
    "png": ((ROOT / "appliance/sim/pictures/day-clear-pv.png").read_bytes()[:4096], "binary data"),
    "deep_list": (b"[grid]\nallowance_w = " + b"[\n" * 30_000, "too deeply"),
    "deep_inline_table": (b"x = " + b"{a = \n" * 10_000, "not valid TOML"),
    "long_line": (b"[grid]\nallowance_w = " + b"[" * 20_000, "line 2 is 20014 characters long"),
    "one_megabyte": (b"# " + b"x" * (1 << 20) + b"\n", "larger than 64 KB"),
    "control_character": (b"[grid]\nallowance_w = 1\x01\n", "not valid TOML"),
    "long_value": (b'[fronius]\nftp_password = "' + b"p" * 500 + b'"\n', "at most 200 characters"),
    "deep_dotted_key": (b"[grid]\n" + b"a." * 400 + b"b = 1\n", "unknown key in [grid]"),
}


def check_config(capsys, path) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(["check-config", str(path)])
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(NAMED))
def test_any_file_gives_a_message_and_exit_2(tmp_path, capsys, name):
    content, words = NAMED[name]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(content)
    code, err = check_config(capsys, path)
    assert code == 2 and words in err and "Traceback" not in err
    assert all(len(line) < 400 for line in err.splitlines()), "a problem line must stay readable"


def test_latin1_and_utf16_say_how_to_save_as_utf8(tmp_path, capsys):
    for name in ("latin1", "utf16"):
        (tmp_path / name).write_bytes(NAMED[name][0])
        assert SAVE_AS_UTF8 in check_config(capsys, tmp_path / name)[1]


def test_a_byte_order_mark_is_accepted(tmp_path, capsys):
    path = tmp_path / "bom.toml"
    path.write_bytes(codecs.BOM_UTF8 + VALID.encode())
    assert main(["check-config", str(path)]) == 0
    assert "allowance_w = 11000" in capsys.readouterr().out


def test_a_directory_a_device_and_a_pipe_are_named(tmp_path, capsys):
    code, err = check_config(capsys, tmp_path)
    assert code == 2 and "is a directory" in err and str(tmp_path / "wallbox.toml") in err
    code, err = check_config(capsys, "/dev/null")
    assert code == 2 and "not a plain file" in err
    os.mkfifo(tmp_path / "pipe")
    code, err = check_config(capsys, tmp_path / "pipe")  # must not wait for a writer
    assert code == 2 and "not a plain file" in err


def test_a_file_without_permission_says_so(tmp_path):
    path = tmp_path / "secret.toml"
    path.write_text(VALID)
    path.chmod(0)
    tmp_path.chmod(0o755)
    # root reads any file: without the capabilities that let it, as a user at the shell would.
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    r = subprocess.run([*prefix, sys.executable, "-m", "appliance.cli", "check-config", str(path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "permission denied" in r.stderr and "sudo" in r.stderr, r.stderr


@pytest.mark.parametrize("name", ["binary", "deep_list", "latin1"])
def test_run_with_any_file_gives_a_message_and_exit_2(tmp_path, capsys, monkeypatch, name):
    path = tmp_path / "wallbox.toml"
    path.write_bytes(NAMED[name][0])
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with pytest.raises(SystemExit) as e:
        main(["run", "--config", str(path)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and NAMED[name][1] in err and "Traceback" not in err, err


# -- random files -----------------------------------------------------------------------------------

_DIR = tempfile.TemporaryDirectory(prefix="wallbox-config-")
_FILE = Path(_DIR.name) / "wallbox.toml"


def load_bytes(content: bytes) -> Settings | None:
    """load_settings on these bytes: Settings, or None after a ConfigError; anything else fails."""
    _FILE.write_bytes(content)
    try:
        return load_settings(_FILE)
    except ConfigError as e:
        assert e.problems and all(str(p) for p in e.problems)
        return None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_but_a_config_error(content):
    load_bytes(content)


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_the_example_with_random_damage_never_raises_anything_but_a_config_error(data):
    text = VALID.encode()
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    load_bytes(text[:start] + data.draw(st.binary(max_size=40)) + text[end:])


DOTTED = [f"{s}.{f}" for s, cls in SECTIONS.items() for f in cls.__dataclass_fields__]
SCALARS = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.integers(-5, 120_000), st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", "0.0.0.0", "/dev/ttyUSB0", "anonymous", "a\x00b", "http://10.0.0.1", "tcp", "rtu",
                     "meter", "ems", "sunspec", "solar_api", "push", "22:00", "E", "low", "wallbox/#"]),
    st.sampled_from([0, 1, 3, 6, 16, 32, 80, 502, 1883, 8080, 65535, 65536, 3.5, 230]),
    st.times().map(lambda t: t.replace(microsecond=0, tzinfo=None)),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["start", "end", "mode", "x"]), inner, max_size=3),
                      max_leaves=6)


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else "inf" if v == math.inf else "-inf" if v == -math.inf else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, time):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"
    return str(v)


def near_valid(dotted: str):
    """Values around what the key allows, so that many random documents are valid ones."""
    section, name = dotted.split(".")
    kind = SECTIONS[section].__dataclass_fields__[name].metadata["key"].kind
    if isinstance(kind, Int):
        return st.integers(kind.lo - 2, kind.hi + 2)
    if isinstance(kind, Num):
        return st.floats(kind.lo - 1, kind.hi + 1)
    if isinstance(kind, Choice):
        return st.sampled_from(kind.values)
    return st.sampled_from(["", " ", "anonymous", "x"])


CHANGES = st.lists(st.sampled_from(DOTTED).flatmap(lambda k: st.tuples(st.just(k), near_valid(k) | VALUES))
                   | st.tuples(st.sampled_from(["grid.x", "mystery.key"]), VALUES), max_size=4)
# The keys the safety rules read, with values around what each allows.
SAFETY_KEYS = ["grid.allowance_w", "grid.phases", "wallbox.min_current_a", "wallbox.max_current_a",
               "wallbox.failsafe_current_a", "wallbox.kind", "wallbox.transport", "fronius.source",
               "fronius.ftp_password", "fronius.ftp_user", "fronius.sunspec_host", "wallbox.host"]
SAFETY_CHANGES = st.lists(st.sampled_from(SAFETY_KEYS).flatmap(lambda k: st.tuples(st.just(k), near_valid(k))),
                          max_size=4)


VALID_DOC = tomllib.loads(VALID)


def document(changes) -> bytes:
    doc = copy.deepcopy(VALID_DOC)
    for dotted, value in changes:
        section, key = dotted.split(".")
        doc.setdefault(section, {})[key] = value
    return "\n".join(f"[{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
                     for name, table in doc.items()).encode()


@settings(max_examples=50, deadline=None)
@given(CHANGES, st.lists(st.sampled_from(list(SECTIONS)), max_size=1))
def test_random_toml_documents_never_raise_anything_but_a_config_error(changes, scalar_sections):
    text = document(changes)
    for section in scalar_sections:  # a section written as a value, not a table
        text = f"{section} = 1\n".encode() + text
    load_bytes(text)


@settings(max_examples=80, deadline=None)
@given(SAFETY_CHANGES)
def test_settings_that_load_keep_the_safety_rules(changes):
    s = load_bytes(document(changes))
    if s is not None:
        w = s.wallbox
        assert w.min_current_a <= w.max_current_a
        assert s.failsafe_current_a == 0 or w.min_current_a <= s.failsafe_current_a <= s.allowance_only_current_a
        assert s.failsafe_current_a * s.watts_per_amp <= s.grid.allowance_w
        assert s.fronius.source != "push" or s.fronius.ftp_password.strip()
        assert s.fronius.source != "sunspec" or s.fronius.sunspec_host
        assert w.kind != "meter" or w.transport == "rtu"
        assert s.fronius.ftp_user.strip().lower() not in ("anonymous", "ftp")
