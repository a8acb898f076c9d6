"""How a container asks a Docker engine for GPUs: which ways are tried, and which one a cell uses."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_channel_stream import cell

from seedmatrix.backends.docker import container
from seedmatrix.backends.docker.container import ALL_GPUS, CDI_ALL_GPUS, gpu_requests
from seedmatrix.backends.execute import RunContext, gpu_request
from seedmatrix.errors import EngineError
from seedmatrix.plan import Cell


def test_the_runtime_hook_is_asked_first_and_cdi_names_only_where_the_engine_reads_cdi_specs() -> None:
    assert gpu_requests({}) == (ALL_GPUS,)  # Docker < 25, or CDI not enabled: no key
    assert gpu_requests({"CDISpecDirs": []}) == (ALL_GPUS,)
    assert gpu_requests({"CDISpecDirs": None}) == (ALL_GPUS,)
    assert gpu_requests({"CDISpecDirs": [""]}) == (ALL_GPUS,)
    assert gpu_requests({"CDISpecDirs": "/etc/cdi"}) == (ALL_GPUS,)  # not the list Docker sends
    assert gpu_requests({"CDISpecDirs": ["/etc/cdi", "/var/run/cdi"]}) == (ALL_GPUS, CDI_ALL_GPUS)


def test_each_way_is_the_device_request_the_docker_cli_sends_for_it() -> None:
    # `docker run --gpus all` and `docker run --device nvidia.com/gpu=all` (Docker >= 25).
    assert ALL_GPUS.device_request() == {
        "Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {},
    }  # fmt: skip
    assert CDI_ALL_GPUS.device_request() == {
        "Driver": "cdi", "Count": 0, "DeviceIDs": ["nvidia.com/gpu=all"], "Capabilities": [], "Options": {},
    }  # fmt: skip


def gpu_cell(tmp_path: Path) -> Cell:
    return replace(cell(tmp_path), environment="cuda", gpu=True)


def context(granted: dict[str, container.GpuRequest]) -> RunContext:
    return RunContext(
        client=None,
        owner=container.Owner(run_id="test"),
        host_environ={},
        identities={},
        gpu_requests=granted,
        jobs=1,
        cpu_ids=[0],
    )


def test_a_gpu_cell_asks_the_way_the_engine_granted_its_environment(tmp_path: Path) -> None:
    cuda = gpu_cell(tmp_path)
    assert gpu_request(context({"cuda": CDI_ALL_GPUS}), cuda) == CDI_ALL_GPUS
    assert gpu_request(context({"cuda": CDI_ALL_GPUS}), replace(cuda, gpu=False)) is None


def test_a_gpu_cell_whose_environment_was_granted_no_gpu_is_refused_not_run_without_one(
    tmp_path: Path,
) -> None:
    with pytest.raises(EngineError, match="cuda: no GPU request the engine granted"):
        gpu_request(context({"other": ALL_GPUS}), gpu_cell(tmp_path))
