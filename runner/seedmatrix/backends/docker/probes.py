"""What an image or a host interpreter really contains: the probe's report, read the same way for both."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from typing import Any

import docker

from ...config import INSIDE
from ...errors import ImageError, ResultsError
from ...limits import Limits
from ...results import FRAMEWORKS, Build, Observed, decode
from . import container

PROBE = INSIDE / "probe.py"
DISPATCH_PROBE = PROBE.parent / "dispatch.py"
PROBE_MOUNT = "/seedmatrix-probe"
#: The distributions that provide each framework; the first installed one is reported.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "torch": ("torch",),
    "jax": ("jax",),
}
assert tuple(DISTRIBUTIONS) == FRAMEWORKS
_ARGUMENT = json.dumps(DISTRIBUTIONS)


def probe_image(
    client: docker.DockerClient, image_id: str, python: str, *, owner: container.Owner, timeout_seconds: int
) -> Observed:
    finished = container.run(
        client,
        container.ContainerSpec(
            image=image_id,
            command=[python, f"{PROBE_MOUNT}/{PROBE.name}", _ARGUMENT],
            owner=owner,
            limits=Limits(timeout_seconds=timeout_seconds),
            read_only_mounts={PROBE.parent: PROBE_MOUNT},
        ),
    )
    return read_probe(f"probing image {image_id[:19]}", finished.exit_code, finished.stdout, finished.stderr)


def probe_interpreter(python: str, *, what: str, timeout_seconds: int) -> Observed:
    try:
        finished = subprocess.run(
            [python, str(PROBE), _ARGUMENT],
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ImageError(f"{what}: cannot run {python} ({error})") from None
    return read_probe(f"{what}: probing {python}", finished.returncode, finished.stdout, finished.stderr)


def read_probe(what: str, exit_code: int | None, stdout: str, stderr: str) -> Observed:
    """probe.py's report, from an image or a host interpreter alike."""
    if exit_code != 0:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        raise ImageError(f"{what} failed: {tail[0]}")
    try:
        return decode(Observed, stdout.encode(), source=what)
    except ResultsError as error:
        raise ImageError(f"{what} gave unreadable output ({error})") from None


def probe_dispatch(
    client: docker.DockerClient | None,
    build: Build,
    python: str,
    *,
    variables: Mapping[str, str],
    owner: container.Owner | None,
    timeout_seconds: int,
) -> dict[str, Any]:
    """The oneDNN ISA TensorFlow dispatches in an image or interpreter under `variables` (the
    environment's CPU switches): {"onednn_isa", "onednn_version"}, and "error" when it failed."""
    if build.image_id is not None and client is not None and owner is not None:
        finished = container.run(
            client,
            container.ContainerSpec(
                image=build.image_id,
                command=[python, f"{PROBE_MOUNT}/{DISPATCH_PROBE.name}"],
                owner=owner,
                limits=Limits(timeout_seconds=timeout_seconds),
                read_only_mounts={PROBE.parent: PROBE_MOUNT},
                environment=dict(variables),
            ),
        )
        exit_code, stdout, stderr = finished.exit_code, finished.stdout, finished.stderr
    else:
        try:
            done = subprocess.run(
                [python, str(DISPATCH_PROBE)],
                capture_output=True,
                text=True,
                timeout=timeout_seconds,
                check=False,
                env={**os.environ, **variables},
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return {"error": f"the oneDNN probe could not run: {error}"}
        exit_code, stdout, stderr = done.returncode, done.stdout, done.stderr
    try:
        found = json.loads(stdout.strip().splitlines()[-1]) if exit_code == 0 and stdout.strip() else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": f"the oneDNN probe failed: {tail[0]}"}
    return {key: value for key, value in found.items() if isinstance(value, str | None)}
