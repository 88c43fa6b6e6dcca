"""`python -m appliance.bench`: the same as `wallbox bench`, runnable before the command is wired."""

from __future__ import annotations

import argparse
import sys

from . import register

parser = argparse.ArgumentParser(prog="python -m appliance.bench")
sub = parser.add_subparsers()
register(sub)
args = parser.parse_args(["bench", *sys.argv[1:]])
raise SystemExit(args.func(args))
