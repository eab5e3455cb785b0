"""What goes into the images (deploy/Dockerfile) and which images get built.

The security review found the base image unpinned (`python:3.11-slim`: whatever it was that day) and
every dependency installed by its range, so two builds of one commit could run different code; the
gateway's image without the web app it serves; and nothing that built the `mercator/<svc>:<version>`
images the Kubernetes manifests run. No Docker engine runs here: the tests read the Dockerfile as
BuildKit would and ask make what `make images` would run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mercator.common.devrun import SERVICES

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy/Dockerfile"
LOCK = ROOT / "deploy/requirements.lock"
PROJECTS = [ROOT / "libs/common/pyproject.toml", *sorted(ROOT.glob("services/*/pyproject.toml"))]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", text, flags=re.M)]


def stages() -> list[dict]:
    out: list[dict] = []
    for op, args in instructions():
        if op == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", args, flags=re.I)
            out.append({"image": m.group(1), "name": m.group(2), "steps": []})
        else:
            out[-1]["steps"].append((op, args))
    return out


def locked() -> dict[str, tuple[str, int]]:
    """name: (version, number of hashes) for every pin in the lock."""
    pins: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        m = re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", block)
        if m:
            pins[canonicalize_name(m.group(1))] = (m.group(2), block.count("--hash=sha256:"))
    return pins


def test_the_images_start_from_exact_versions_and_install_only_what_the_lock_pins():
    built = {s["name"] for s in stages() if s["name"]}
    for stage in stages():
        image = stage["image"]
        if image in built:
            continue
        # An exact release (python:3.11.14-slim-bookworm), or a digest: never a moving tag.
        assert re.fullmatch(
            r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?|[\w./-]+@sha256:[0-9a-f]{64}", image
        ), f"FROM {image} moves under the same name"
    final = stages()[-1]
    assert final["image"].startswith("python:3.11."), "the lock is compiled for Python 3.11"
    installs = [
        args
        for op, args in final["steps"]
        if op == "RUN"
        for args in re.split(r"&&", args)
        if re.search(r"\bpip\b.*\binstall\b", args)
    ]
    assert installs, "the image installs nothing?"
    for command in installs:
        if "-r" in command.split():
            assert "--require-hashes" in command and "requirements.lock" in command, command
        else:
            # Mercator's own packages from the tree, their dependencies already there from the lock.
            assert "--no-deps" in command and "--no-build-isolation" in command, command
            assert all(a.startswith(("-", "/app/")) for a in command.split()[command.split().index("install") + 1 :]), (
                command
            )

    pins = locked()
    assert pins and all(hashes for _, hashes in pins.values()), "every pin needs its hashes (--require-hashes)"
    for project in PROJECTS:
        meta = tomllib.loads(project.read_text())
        wanted = [*meta["project"].get("dependencies", []), *meta["build-system"]["requires"]]
        for line in wanted:
            req = Requirement(line)
            if canonicalize_name(req.name).startswith("mercator-"):
                continue
            name = canonicalize_name(req.name)
            assert name in pins, f"{project.relative_to(ROOT)} needs {req}, the lock has none: make lock"
            assert req.specifier.contains(pins[name][0], prereleases=True), (
                f"{project.relative_to(ROOT)} needs {req}, the lock pins {pins[name][0]}: make lock"
            )


def test_the_gateway_image_carries_the_web_app_it_serves():
    from mercator.gateway.settings import GatewaySettings

    all_stages = stages()
    web = [s for s in all_stages if s["image"].startswith("node:")]
    assert len(web) == 1 and web[0]["name"], "the web app is built in a node stage of its own"
    web = web[0]
    steps = " ; ".join(args for _, args in web["steps"])
    # From package-lock.json exactly, then Vite's build (tsc checks the types first).
    assert "package-lock.json" in steps and "npm ci" in steps and "npm run build" in steps, steps
    workdir = next(args for op, args in web["steps"] if op == "WORKDIR")
    copies = [args.split() for op, args in all_stages[-1]["steps"] if op == "COPY" and f"--from={web['name']}" in args]
    assert copies, "the final image copies nothing from the web stage"
    [[_, source, target]] = copies
    assert source.rstrip("/") == f"{workdir.rstrip('/')}/dist"
    # The image lays the tree at /app (services/<name> at /app/services/<name>), so the gateway looks
    # for its files at /app/<web_dist relative to the tree>.
    assert any(op == "COPY" and args.split()[-1] == "/app/services/${SERVICE}" for op, args in all_stages[-1]["steps"])
    default = Path(GatewaySettings.model_fields["web_dist"].default).resolve()
    assert target.rstrip("/") == f"/app/{default.relative_to(ROOT)}", f"the gateway looks for {default}"
    # The build context is the checkout: the host's own build output and packages stay out of it.
    ignored = (ROOT / "deploy/Dockerfile.dockerignore").read_text().split()
    assert {"web/dist", "**/node_modules", ".venv"} <= set(ignored)


def test_make_images_builds_exactly_the_images_the_manifests_and_compose_run():
    make = shutil.which("make")
    assert make, "make is what builds the images"
    # A clean environment: DOCKER or IMAGE_TAG set in the caller's would change what make prints.
    out = subprocess.run(
        [make, "-n", "--no-print-directory", "images"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": "/tmp"},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    builds = {}
    for line in out.stdout.splitlines():
        words = line.split()
        if words[:2] != ["docker", "build"]:
            continue
        assert words[words.index("-f") + 1] == "deploy/Dockerfile" and words[-1] == ".", line
        arg = words[words.index("--build-arg") + 1]
        tag = words[words.index("-t") + 1]
        builds[tag] = arg.removeprefix("SERVICE=")
    assert builds, out.stdout
    for tag, service in builds.items():
        assert tag.startswith(f"mercator/{service}:"), f"{tag} is built with SERVICE={service}"

    k8s = ROOT / "deploy/kubernetes"
    manifest_images = {
        c["image"]
        for f in k8s.glob("*.yaml")
        for doc in yaml.safe_load_all(f.read_text())
        if doc and doc.get("kind") in ("Deployment", "Job")
        for c in doc["spec"]["template"]["spec"]["containers"]
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    compose_images = {s["image"] for s in compose.values() if s["image"].startswith("mercator/")}
    assert manifest_images == set(builds), f"manifests run {manifest_images}, make images builds {set(builds)}"
    assert compose_images == set(builds), f"compose runs {compose_images}, make images builds {set(builds)}"
    assert set(builds.values()) == set(SERVICES)
