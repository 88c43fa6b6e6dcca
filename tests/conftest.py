"""Shared test settings: hypothesis profiles (CI runs the same number of examples as developers),
bytecode caches, and the order in which pytest-xdist hands out the test files."""

import os
import sys

from hypothesis import HealthCheck, settings

# Bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set (as in some containers):
# without them every xdist worker rewrites the asserts of every test module again (about 2 s of
# CPU per worker and run) and every `python -m appliance.cli` the tests start compiles the
# appliance again. The caches go to __pycache__/, which git ignores.
sys.dont_write_bytecode = False

settings.register_profile("default", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")

# The files that take longest (seconds on an idle 2-core machine, from `--durations`), handed out
# first: with `--dist loadfile` a file runs in one worker, and a long file that starts last keeps
# the whole suite waiting for it while the other workers are idle. Every other file keeps its place.
SLOW_FILES_S = {
    "tests/test_vestel_faults.py": 20,
    "tests/test_simulate.py": 16,
    "tests/test_vestel_meter_charger.py": 12,
    "tests/test_simulate_days.py": 10,
    "tests/hardware/test_case.py": 10,   # 1 s when the previous run's export is reused
    "tests/image/test_wheel.py": 7,
    "tests/faults/test_kill_run.py": 5,
    "tests/test_web_browser.py": 5,
    "tests/test_mqtt.py": 5,
    "tests/test_cli_probe.py": 5,
    "tests/test_control.py": 4,
    "tests/faults/test_ems_faults.py": 4,
    "tests/test_phases.py": 4,
    "tests/test_battery.py": 4,
    "tests/test_ftp_guard.py": 4,
    "tests/test_service.py": 4,
    "tests/test_vestel_link.py": 4,
    "tests/test_solar_api.py": 3,
    "tests/test_files_kill9.py": 3,
    "tests/faults/test_meter_faults.py": 3,
    "tests/test_fronius.py": 3,
    "tests/test_runtime.py": 3,
    "tests/test_vestel_on_change.py": 3,
    # 2 s each: before the many small files, so that the last file any worker starts is short.
    "tests/test_sim_inverter.py": 2,
    "tests/test_simulate_kinds.py": 2,
    "tests/test_vestel_rtu.py": 2,
    "tests/test_watchdog_and_probe.py": 2,
    "tests/test_socket_limits.py": 2,
    "tests/test_input_limits.py": 2,
    "tests/test_startup_imports.py": 2,
    "tests/test_state_machine.py": 2,
    "tests/test_config_files.py": 2,
    "tests/test_vestel_safety.py": 2,
}


def pytest_collection_modifyitems(config, items):
    """Slow files first (pyproject sets --no-loadscope-reorder so that xdist keeps this order)."""
    first_seen: dict[str, int] = {}
    for item in items:
        first_seen.setdefault(item.nodeid.split("::")[0], len(first_seen))

    def key(item):
        path = item.nodeid.split("::")[0]
        return -SLOW_FILES_S.get(path, 0), first_seen[path]

    items.sort(key=key)   # stable: the tests of one file keep their order


def pytest_configure(config):
    """Under pytest-xdist the controller rewrites the test modules' asserts once, in two processes,
    before the workers start: otherwise each of the 4 workers rewrites all of them at the same
    moment on a fresh clone (about 2.3 s of CPU each, a quarter of the suite's start)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        return
    try:
        _warm_assertion_caches(config)
    except Exception:   # pytest's internals moved: the workers rewrite the modules themselves
        pass


def _warm_assertion_caches(config) -> None:
    from pathlib import Path

    from _pytest.assertion import rewrite

    state = config.stash[rewrite.assertstate_key]
    tests = Path(__file__).parent

    def pyc(fn: Path) -> Path:
        return rewrite.get_cache_dir(fn) / (fn.name[:-3] + rewrite.PYC_TAIL)

    files = sorted([*tests.rglob("test_*.py"), *tests.rglob("conftest.py")])
    missing = [fn for fn in files if rewrite._read_pyc(fn, pyc(fn)) is None]
    if not missing:
        return

    def write(part: list) -> None:
        for fn in part:
            rewrite.try_makedirs(pyc(fn).parent)
            source_hash, code = rewrite._rewrite_test(fn, config)
            rewrite._write_pyc(state, code, source_hash, pyc(fn))

    child = os.fork()
    if child == 0:
        try:
            write(missing[1::2])
        finally:
            os._exit(0)
    write(missing[::2])
    os.waitpid(child, 0)
