"""Images shared through a real registry: a second engine (its own data root, standing for a second
fresh machine) pulls what the first pushed, builds nothing, and records the same values.

The registry is Debian's `docker-registry` (`bash scripts/engine start --for-tests` installs it), served on
localhost for the test; the second engine is a second dockerd with its own data and exec roots.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from seedmatrix.results import Build

from test_faults import latest, seedmatrix

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "data" / "small.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (`bash scripts/engine start --for-tests` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def registry() -> Iterator[str]:
    """A registry on localhost (the engine treats 127.0.0.0/8 registries as plain HTTP)."""
    work = Path(tempfile.mkdtemp(prefix="sm-registry-"))
    port = free_port()
    config = work / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {work / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    with (work / "log").open("w") as log:
        server = subprocess.Popen([tool("docker-registry"), "serve", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"127.0.0.1:{port}/seedmatrix-test"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def second_engine() -> Iterator[str]:
    """A second dockerd with its own data root: a machine that has built nothing."""
    work = Path(tempfile.mkdtemp(prefix="sm-d2-"))  # short: containerd's sockets live under exec-root
    sock = work / "docker.sock"
    command = [
        tool("dockerd"), "--data-root", str(work / "data"), "--exec-root", str(work / "exec"),
        "--pidfile", str(work / "pid"), "-H", f"unix://{sock}", "--bridge=none", "--iptables=false",
        "--ip-masq=false",
    ]  # fmt: skip
    with (work / "log").open("w") as log:
        engine = subprocess.Popen(command, stdout=log, stderr=log)
    host = f"unix://{sock}"
    try:
        deadline = time.monotonic() + 90
        while not sock.exists() and engine.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # connecting before the socket exists leaks a socket in docker-py
        while True:
            client = docker.DockerClient(base_url=host, timeout=10)
            try:
                client.ping()
                break
            except docker.errors.DockerException:
                if time.monotonic() > deadline or engine.poll() is not None:
                    pytest.fail(f"the second engine did not start: {(work / 'log').read_text()[-2000:]}")
                time.sleep(0.5)
            finally:
                client.close()
        yield host
    finally:
        engine.terminate()
        engine.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


def test_a_second_machine_pulls_every_image_builds_nothing_and_records_the_same_values(
    docker_client: docker.DockerClient, small_image: Build, registry: str, second_engine: str, tmp_path: Path
) -> None:
    pushed = seedmatrix(
        "images",
        "--config",
        str(SMALL),
        "--results",
        str(tmp_path / "first"),
        "--registry",
        registry,
        "--push",
    )
    assert pushed.returncode == 0, pushed.stderr
    assert f"pushing {registry}/seedmatrix-base:bookworm-" in pushed.stderr
    assert f"pushing {registry}/seedmatrix-env:bookworm-np2.0-" in pushed.stderr
    assert "warning" not in pushed.stderr
    first = seedmatrix("matrix", "--config", str(SMALL), "--results", str(tmp_path / "first"))
    assert first.returncode == 0, first.stderr

    second = seedmatrix(
        "matrix",
        "--config", str(SMALL), "--results", str(tmp_path / "second"), "--registry", registry,
        DOCKER_HOST=second_engine,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert f"pulled {registry}/seedmatrix-base:bookworm-" in second.stderr
    assert "making seedmatrix-base" not in second.stderr  # no Debian base made
    assert "building seedmatrix-env" not in second.stderr
    assert "fetching wheels" not in second.stderr
    there = latest(tmp_path / "second")
    assert [env["build"]["status"] for env in there["environments"]] == ["pulled"]
    here = latest(tmp_path / "first")
    assert there["environments"][0]["build"]["image_id"] == here["environments"][0]["build"]["image_id"]

    def values(data: dict[str, object]) -> dict[tuple[str, str, int], list[tuple[str, list[str]]]]:
        records = data["records"]
        assert isinstance(records, list)
        return {
            (r["environment"], r["case"], r["repeat"]): [(v["label"], v["bits"]) for v in r["values"]]
            for r in records
        }

    assert values(there) == values(here)
    assert there["cell_keys"] == here["cell_keys"]  # so --reuse-from works across the two machines
