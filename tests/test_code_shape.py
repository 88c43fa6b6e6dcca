"""The code stays readable: no module over 400 lines, no function over 60 (generated tables aside)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
GENERATED = {"appliance/chargers/vestel_ems/registers.py"}   # the register table, generated


def sources():
    for package in ("appliance", "display"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in GENERATED:
                yield rel, path.read_text(encoding="utf-8")


def too_long() -> tuple[list[str], list[str]]:
    modules, functions = [], []
    for rel, text in sources():
        lines = text.count("\n") + (not text.endswith("\n"))
        if lines > MAX_MODULE_LINES:
            modules.append(f"{rel}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    functions.append(f"{rel}:{node.lineno} {node.name}(): {length} lines")
    return modules, functions


# Being reworked by their owners (issue 9): listed so that each one is seen; nothing may join them.
KNOWN_MODULES = {"appliance/sim/wallbox.py"}
KNOWN_FUNCTIONS: set[str] = set()


def test_no_module_over_400_lines_and_no_function_over_60():
    modules, functions = too_long()
    found_modules = {m.split(":")[0] for m in modules}
    found_functions = {f.split(" ")[0].split(":")[0] + " " + f.split(" ")[1] for f in functions}
    assert found_modules <= KNOWN_MODULES, modules
    assert found_functions <= KNOWN_FUNCTIONS, functions


def test_the_check_finds_a_long_function(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    tree = ast.parse(f"def f():\n{body}\n")
    fn = tree.body[0]
    assert fn.end_lineno - fn.lineno + 1 > MAX_FUNCTION_LINES
