"""Podman behind the Docker-compatible API: telling it from Docker, and what it cannot do."""

from __future__ import annotations

from seedmatrix.backends.docker import container

# What the engines answered on /version here on 2026-12-03 (abridged).
PODMAN_VERSION = {
    "Platform": {"Name": "linux/amd64/debian-12"},
    "Components": [
        {"Name": "Podman Engine", "Version": "4.3.1", "Details": {"APIVersion": "4.3.1"}},
        {"Name": "Conmon", "Version": "conmon version 2.1.6, commit: unknown"},
        {"Name": "OCI Runtime (runc)", "Version": "runc version 1.1.5+ds1"},
    ],
    "Version": "4.3.1",
    "ApiVersion": "1.41",
}
DOCKER_VERSION = {
    "Platform": {"Name": ""},
    "Components": [
        {"Name": "Engine", "Version": "20.10.24+dfsg1"},
        {"Name": "containerd", "Version": "1.6.20~ds1"},
        {"Name": "runc", "Version": "1.1.5+ds1"},
        {"Name": "docker-init", "Version": "0.19.0"},
    ],
    "Version": "20.10.24+dfsg1",
    "ApiVersion": "1.41",
}


def test_podman_is_told_from_docker_by_its_component_name_not_its_api_version() -> None:
    assert container.podman_version(PODMAN_VERSION) == "4.3.1"
    assert container.podman_version(DOCKER_VERSION) is None
    assert container.podman_version({"Version": "4.3.1", "ApiVersion": "1.41"}) is None


def test_a_gpu_environment_on_podman_is_skipped_with_the_engine_named_not_run_without_a_gpu() -> None:
    # Before: the check's container exited 0 on Podman, so GPU cells ran on the CPU.
    reason = container.gpu_request_dropped(container.podman_version(PODMAN_VERSION))
    assert reason is not None
    assert reason.startswith("no GPU on this host (")
    assert "Podman 4.3.1" in reason
    assert "drops Docker-style GPU requests" in reason
    assert container.gpu_request_dropped(container.podman_version(DOCKER_VERSION)) is None
