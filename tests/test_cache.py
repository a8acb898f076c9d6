"""The cache of earlier work: which changes make a cell run again, and which cells may be reused."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from seedmatrix.backends.execute import CpuPool
from seedmatrix.cache import cell_key, cell_keys, gpu_unknown, records_from, reusable_cells
from seedmatrix.compare import compare
from seedmatrix.gpu import GpuFacts, host_gpus
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell
from seedmatrix.store import RunDirectory

from builders import case, environment, float32_value, record, repeated, results


def key(script: Path, helpers: Path, **settings: Any) -> str:
    defaults = {"workdir": script.parent, "repeats": 3, "limits": Limits(timeout_seconds=60)}
    cell = Cell(environment="e", case="c", script=script, **{**defaults, **settings})
    return cell_key(identity="sha256:1", cell=cell, helpers=helpers, gpus=H100_550 if cell.gpu else None)


def test_the_key_follows_every_file_the_container_sees(tmp_path: Path) -> None:
    seeds, helpers = tmp_path / "seeds", tmp_path / "inside"
    (seeds / "data").mkdir(parents=True)
    helpers.mkdir()
    script = seeds / "seed.py"
    script.write_text("print(1)\n", encoding="utf-8")
    (seeds / "data" / "weights.json").write_text("[1]", encoding="utf-8")
    (helpers / "recording.py").write_text("x = 1\n", encoding="utf-8")
    before = key(script, helpers)
    (seeds / "__pycache__").mkdir()
    (seeds / "__pycache__" / "seed.cpython-311.pyc").write_bytes(b"\0")
    assert key(script, helpers) == before  # byte code is not something the script reads
    (seeds / "data" / "weights.json").write_text("[2]", encoding="utf-8")
    after_data = key(script, helpers)
    assert after_data != before
    (helpers / "recording.py").write_text("x = 2\n", encoding="utf-8")
    assert key(script, helpers) != after_data
    assert key(script, helpers, cpus=2) != key(script, helpers)


def test_the_key_follows_every_setting_of_the_case(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text("print(1)\n", encoding="utf-8")
    data = tmp_path / "data.csv"
    data.write_text("1,2\n", encoding="utf-8")
    plain = key(script, tmp_path)
    variants = [
        key(script, tmp_path, args=("--epochs", "2")),
        key(script, tmp_path, outputs=("model.npz",)),
        key(script, tmp_path, parse=r"loss (?P<loss>\S+)"),
        key(script, tmp_path, variables={"X": "1"}),
        key(script, tmp_path, data={data: "/data/train.csv"}),
        key(script, tmp_path, limits=Limits(timeout_seconds=60, memory="8g")),
        key(script, tmp_path, gpu=True),
    ]
    assert len({plain, *variants}) == len(variants) + 1
    with_data = key(script, tmp_path, data={data: "/data/train.csv"})
    data.write_text("1,2,3\n", encoding="utf-8")
    assert key(script, tmp_path, data={data: "/data/train.csv"}) != with_data


def test_a_gpu_cell_that_ran_on_the_cpu_is_not_reusable() -> None:
    gpu_env = environment("gpu", device="gpu")
    on_cpu = {"kind": "CPU fallback", "detail": "CUDA build, no GPU visible", "framework": "tensorflow"}
    runs = results(
        [environment("cpu"), gpu_env],
        [case("c")],
        [
            *repeated("cpu", "c", [float32_value("x", 1.0)]),
            *[
                dataclasses.replace(record("gpu", "c", n, [float32_value("x", 1.0)]), device=on_cpu)
                for n in (1, 2, 3)
            ],
        ],
    )
    keys = {("cpu", "c"): "key-cpu", ("gpu", "c"): "key-gpu"}
    reusable = reusable_cells(keys, runs, compare(runs), "this-run")
    assert reusable == {"key-cpu": "this-run"}


def test_cpus_are_handed_out_from_the_given_ids() -> None:
    pool = CpuPool([5, 3])
    with pool.take(1) as first, pool.take(1) as second:
        assert (first, second) == ([3], [5])
    with pool.take(2) as both:
        assert both == [3, 5]


def test_records_of_cells_whose_names_share_dashes_do_not_collide(tmp_path: Path) -> None:
    store = RunDirectory.create(tmp_path)
    store.save_record(record("a--b", "c", 1, [float32_value("x", 1.0)]))
    store.save_record(record("a", "b--c", 1, [float32_value("x", 2.0)]))
    assert len(store.load_records()) == 2
    assert [r.case for r in store.records_of("a", "b--c")] == ["b--c"]


def test_the_key_follows_the_cpu_a_cell_runs_on(tmp_path: Path) -> None:
    script = tmp_path / "seed.py"
    script.write_text("print(1)\n", encoding="utf-8")
    cell = Cell(
        environment="e",
        case="c",
        script=script,
        workdir=tmp_path,
        repeats=3,
        limits=Limits(timeout_seconds=60),
    )
    here = cell_key(
        identity="sha256:1", cell=cell, helpers=tmp_path, machine="AuthenticAMD/AMD EPYC/avx2,avx512f"
    )
    there = cell_key(identity="sha256:1", cell=cell, helpers=tmp_path, machine="GenuineIntel/Xeon/avx2")
    assert here != there  # another CPU may compute other bits: its records are not this machine's
    assert here == cell_key(
        identity="sha256:1", cell=cell, helpers=tmp_path, machine="AuthenticAMD/AMD EPYC/avx2,avx512f"
    )


H100_550 = GpuFacts(driver="550.54.15", models=("NVIDIA H100 80GB HBM3",))


def gpu_cell(tmp_path: Path, **settings: Any) -> Cell:
    script = tmp_path / "seed.py"
    script.write_text("print(1)\n", encoding="utf-8")
    defaults: dict[str, Any] = {"workdir": tmp_path, "repeats": 2, "limits": Limits(timeout_seconds=60)}
    return Cell(environment="gpu", case="c", script=script, gpu=True, **{**defaults, **settings})


def test_a_gpu_cells_key_follows_the_gpu_model_and_the_driver(tmp_path: Path) -> None:
    """Before: the key had the image and the CPU only, so records made under another driver or on
    another GPU were reused as this machine's."""
    cell = gpu_cell(tmp_path)
    here = cell_key(identity="sha256:1", cell=cell, helpers=tmp_path, gpus=H100_550)
    new_driver = dataclasses.replace(H100_550, driver="560.35.03")
    other_gpu = dataclasses.replace(H100_550, models=("NVIDIA A100-SXM4-40GB",))
    two_gpus = dataclasses.replace(H100_550, models=H100_550.models * 2)
    others = [
        cell_key(identity="sha256:1", cell=cell, helpers=tmp_path, gpus=facts)
        for facts in (new_driver, other_gpu, two_gpus)
    ]
    assert len({here, *others}) == 4
    assert here == cell_key(identity="sha256:1", cell=cell, helpers=tmp_path, gpus=H100_550)
    cpu_cell = dataclasses.replace(cell, gpu=False)  # a CPU cell does not follow the GPU
    assert cell_key(identity="sha256:1", cell=cpu_cell, helpers=tmp_path, gpus=H100_550) == cell_key(
        identity="sha256:1", cell=cpu_cell, helpers=tmp_path, gpus=new_driver
    )


def test_a_gpu_cell_is_not_reused_across_a_driver_change(tmp_path: Path) -> None:
    seeds, helpers = tmp_path / "seeds", tmp_path / "inside"
    seeds.mkdir()
    helpers.mkdir()
    cell = gpu_cell(seeds)
    earlier_keys = cell_keys([cell], {"gpu": "sha256:1"}, helpers=helpers, gpus=H100_550)
    earlier = dataclasses.replace(
        results(
            [environment("gpu", device="gpu")],
            [case("c")],
            repeated("gpu", "c", [float32_value("x", 1.0)], 2),
        ),
        cell_keys={f"{env}/{name}": key for (env, name), key in earlier_keys.items()},
        repeats=2,
    )

    def reused(gpus: GpuFacts) -> int:
        keys = cell_keys([cell], {"gpu": "sha256:1"}, helpers=helpers, gpus=gpus)
        run = RunDirectory.create(tmp_path / "runs")
        return len(records_from(earlier, keys, run, repeats=2, started=set()))

    assert reused(H100_550) == 2
    assert reused(dataclasses.replace(H100_550, driver="560.35.03")) == 0


def test_gpu_cells_whose_gpu_is_unknown_before_they_run_have_no_key(tmp_path: Path) -> None:
    container_cell = gpu_cell(tmp_path)
    host_cell = dataclasses.replace(container_cell, environment="host-gpu", host_python="/usr/bin/python3")
    identities = {"gpu": "sha256:1", "host-gpu": "host:/usr/bin/python3#abc"}
    assert cell_keys([container_cell, host_cell], identities, helpers=tmp_path, gpus=None) == {}
    assert gpu_unknown(container_cell, None) == (
        "this host's GPU model and driver are unknown (no /proc/driver/nvidia to read)"
    )
    keyed = cell_keys([container_cell, host_cell], identities, helpers=tmp_path, gpus=H100_550)
    assert list(keyed) == [("gpu", "c")]
    assert "CUDA" in str(gpu_unknown(host_cell, H100_550))


def test_the_gpus_and_driver_are_read_from_the_kernel_drivers_files(tmp_path: Path) -> None:
    nvidia = tmp_path / "nvidia"
    assert host_gpus(nvidia) is None
    (nvidia / "gpus" / "0000:1b:00.0").mkdir(parents=True)
    (nvidia / "gpus" / "0000:01:00.0").mkdir(parents=True)
    (nvidia / "version").write_text(
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
        "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n",
        encoding="utf-8",
    )
    (nvidia / "gpus" / "0000:01:00.0" / "information").write_text(
        "Model: \t\t NVIDIA H100 80GB HBM3\nIRQ:   \t\t 155\n", encoding="utf-8"
    )
    assert host_gpus(nvidia) is None  # one GPU says nothing: not all of them are known
    (nvidia / "gpus" / "0000:1b:00.0" / "information").write_text(
        "Model: \t\t NVIDIA A100\n", encoding="utf-8"
    )
    assert host_gpus(nvidia) == GpuFacts(driver="550.54.15", models=("NVIDIA H100 80GB HBM3", "NVIDIA A100"))
