"""The recorder, the launcher and the runner's reader, end to end on this machine (no engine).

Each test writes a small script, runs it as a repeat runs it (the launcher under this
interpreter, through the host backend) and reads back the record.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import struct
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from seedmatrix.backends.execute import to_record
from seedmatrix.backends.host import hostrun
from seedmatrix.channel import new_boundary
from seedmatrix.config import INSIDE, LAUNCHER
from seedmatrix.limits import Limits
from seedmatrix.plan import Cell
from seedmatrix.results import Record, RunStatus
from seedmatrix.values import Value, difference, within


def run_script(
    tmp_path: Path, code: str, *, timeout_seconds: int = 60, output_bytes: int = 4 << 20
) -> Record:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    limits = Limits(timeout_seconds=timeout_seconds, output_bytes=output_bytes)
    finished = hostrun.run(
        [sys.executable, str(INSIDE / LAUNCHER), str(script)],
        environment={"PYTHONPATH": str(INSIDE)},
        host_environ=os.environ,
        limits=limits,
        cpu_ids=sorted(os.sched_getaffinity(0)),
        boundary=new_boundary(),
    )
    cell = Cell(environment="host", case="case", script=script, workdir=tmp_path, repeats=1, limits=limits)
    return to_record(cell, 1, finished, ran_on="host:test")


def values(record: Record) -> dict[str, Value]:
    return {value.label: value for value in record.values}


def test_people_see_plain_lines_and_values_keep_every_bit(tmp_path: Path) -> None:
    record = run_script(
        tmp_path,
        """
        import numpy as np
        from recording import show
        show("py", 0.1)
        show("f32", np.array([0.1, -2.5], dtype=np.float32))
        show("scalar32", np.float32(1) / np.float32(3))
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    assert record.output.splitlines()[0] == "py: 0.1"
    found = values(record)
    assert found["py"].bits == (struct.pack(">d", 0.1).hex(),)
    assert found["f32"].bits == (struct.pack(">f", 0.1).hex(), struct.pack(">f", -2.5).hex())
    assert (found["scalar32"].dtype, found["scalar32"].shape) == ("float32", ())
    assert record.device["kind"] == "CPU"
    assert record.script_seconds is not None


def test_the_records_file_is_not_used_without_the_runner(tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text("from recording import show\nshow('x', 1.5)\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SEEDMATRIX_")}
    printed = subprocess.run(
        [sys.executable, str(script)],
        env={**env, "PYTHONPATH": str(INSIDE)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert printed.stdout == "x: 1.5\n"
    assert printed.stderr == ""


def test_show_records_every_kind_of_value_a_script_may_have(tmp_path: Path) -> None:
    """Before: complex, long double, bytes and nested lists crashed the script or lost their shape."""
    record = run_script(
        tmp_path,
        """
        import numpy as np, ml_dtypes
        from recording import show
        show("complex", np.complex64(1 + 2j))
        show("python complex", 3 - 1j)
        show("longdouble", np.longdouble(1) / 3)
        show("bytes", b"ab\\xff")
        show("string tensor", np.array([b"a", b"bc"], dtype=object))
        show("text", "h\\u00e9llo")
        show("numpy scalars", [np.float32(1), np.float32(2)])
        show("nested", [[1.0, 2.0], [3.0, 4.0]])
        show("ragged", [[1], [2, 3]])
        show("mixed", [1, 2.5, "x"])
        show("bfloat16", np.array([1.5, np.nan], dtype=ml_dtypes.bfloat16))
        show("float8", np.array([448.0, 1.5], dtype=ml_dtypes.float8_e4m3fn))
        show("huge int", 10 ** 400)
        show("none", None)
        show("empty", [])
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    found = values(record)
    assert found["complex"].dtype == "complex64"
    assert found["complex"].bits == ("3f80000040000000",)
    assert found["python complex"].dtype == "complex128"
    assert found["longdouble"].dtype == "longdouble"
    assert found["bytes"].bits == ("6162ff",)
    assert (found["string tensor"].dtype, found["string tensor"].bits) == ("bytes", ("61", "6263"))
    assert found["text"].bits == ("héllo",)
    assert (found["numpy scalars"].dtype, found["numpy scalars"].shape) == ("float32", (2,))
    assert (found["nested"].dtype, found["nested"].shape) == ("float64", (2, 2))
    assert found["ragged"].shape == (2,)
    assert found["mixed"].bits == ("int:1", f"float64:{struct.pack('>d', 2.5).hex()}", "str:x")
    assert found["bfloat16"].bits == ("3fc0", "7fc0")
    assert found["float8"].bits == ("7e", "3c")
    assert found["huge int"].bits == (str(10**400),)
    assert found["none"].dtype == "none"
    assert found["empty"].shape == (0,)


def test_what_cannot_be_recorded_is_named_and_the_script_goes_on(tmp_path: Path) -> None:
    record = run_script(
        tmp_path,
        """
        from recording import show
        show("metrics", {"loss": 0.5})
        show("after", 1.0)
        """,
    )
    assert record.status is RunStatus.OK
    found = values(record)
    assert found["metrics"].dtype == "unrecordable"
    assert "cannot record a builtins.dict" in found["metrics"].note
    assert "'metrics': cannot record a builtins.dict" in record.stderr_tail
    assert found["after"].bits == (struct.pack(">d", 1.0).hex(),)


def test_values_compare_by_value_not_by_repr(tmp_path: Path) -> None:
    """NumPy 2 prints np.float64(0.5) where NumPy 1 printed 0.5: the records must not care."""
    record = run_script(
        tmp_path,
        """
        import numpy as np
        from recording import show
        show("numpy", np.float64(0.5))
        show("python", 0.5)
        show("numpy strings", np.array(["a", "b"]))
        show("python strings", ["a", "b"])
        """,
    )
    found = values(record)
    assert found["numpy"].key == found["python"].key
    assert found["numpy strings"].key == found["python strings"].key


def test_nan_payloads_keep_their_bits(tmp_path: Path) -> None:
    record = run_script(
        tmp_path,
        """
        import numpy as np
        from recording import show
        show("signalling", np.array([0x7F800001], dtype=np.uint32).view(np.float32))
        show("half", np.array([0x7E01], dtype=np.uint16).view(np.float16))
        show("negative", -float("nan"))
        """,
    )
    found = values(record)
    assert found["signalling"].bits == ("7f800001",)
    assert found["half"].bits == ("7e01",)
    assert found["negative"].bits == ("fff8000000000000",)
    assert found["signalling"].values == ("NaN",)


def test_a_chatty_script_keeps_every_value(tmp_path: Path) -> None:
    """Before: values printed after the first 4 MiB of output were dropped and the run still counted."""
    record = run_script(
        tmp_path,
        """
        import sys
        from recording import show
        show("first", 1.0)
        sys.stdout.write("x" * (3 << 20))
        show("after the cap", 2.0)
        """,
        output_bytes=1 << 20,
    )
    assert record.status is RunStatus.OK
    assert record.output_capped
    assert set(values(record)) == {"first", "after the cap"}


@pytest.mark.parametrize(
    "ending",
    [
        'print("no newline at the end", end="")',
        "import os\nos._exit(0)",
        'import sys\nsys.stdout.write("@@seedmatrix-not-the-boundary {}")',
    ],
    ids=["no-newline", "os-exit", "fake-marker"],
)
def test_values_survive_how_a_script_ends_and_a_missing_device_report_is_unknown(
    tmp_path: Path, ending: str
) -> None:
    record = run_script(tmp_path, "from recording import show\nshow('x', 1.0)\n" + ending + "\n")
    assert record.status is RunStatus.OK, record.stderr_tail
    assert values(record)["x"].bits == (struct.pack(">d", 1.0).hex(),)
    if "_exit" in ending:
        assert record.device == {}  # unknown: atexit never ran
    else:
        assert record.device["kind"] == "CPU"


def test_records_over_the_limit_are_a_visible_failure(tmp_path: Path) -> None:
    script = """
        from recording import show
        for n in range(200):
            show(f"v{n}", list(range(2000)))
        """
    code = textwrap.dedent(script)
    (tmp_path / "script.py").write_text(code, encoding="utf-8")
    limits = Limits(timeout_seconds=60, records_bytes=64 * 1024)
    finished = hostrun.run(
        [sys.executable, str(INSIDE / LAUNCHER), str(tmp_path / "script.py")],
        environment={"PYTHONPATH": str(INSIDE)},
        host_environ=os.environ,
        limits=limits,
        cpu_ids=sorted(os.sched_getaffinity(0)),
        boundary=new_boundary(),
    )
    cell = Cell(
        environment="h", case="c", script=tmp_path / "script.py", workdir=tmp_path, repeats=1, limits=limits
    )
    record = to_record(cell, 1, finished, ran_on="h")
    assert record.status is RunStatus.BAD_OUTPUT
    assert "more than the records limit" in record.stderr_tail


def test_a_daemon_that_leaves_the_session_ends_with_the_repeat(tmp_path: Path) -> None:
    """Before: a setsid'd descendant outlived the run and the runner waited for it to close its output."""
    pid_file = tmp_path / "daemon.pid"
    started = time.monotonic()
    record = run_script(
        tmp_path,
        f"""
        import os, subprocess, sys
        from recording import show
        sleeper = "import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(300)"
        daemon = subprocess.Popen([sys.executable, "-c", sleeper], start_new_session=True)
        while not os.path.exists({str(pid_file)!r}):
            pass
        show("x", 1.0)
        """,
    )
    elapsed = time.monotonic() - started
    assert record.status is RunStatus.OK, record.stderr_tail
    assert record.strays == 1
    assert "left 1 process(es) running" in record.stderr_tail
    assert elapsed < 30
    pid = int(pid_file.read_text(encoding="utf-8"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_double_forked_daemon_ends_with_the_repeat(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    record = run_script(
        tmp_path,
        f"""
        import os, time
        from recording import show
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                open({str(pid_file)!r}, "w").write(str(os.getpid()))
                time.sleep(300)
            os._exit(0)
        while not os.path.exists({str(pid_file)!r}) or not open({str(pid_file)!r}).read():
            time.sleep(0.01)
        show("x", 1.0)
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    assert record.strays >= 1
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text(encoding="utf-8")), 0)


def test_a_timed_out_script_keeps_what_it_recorded(tmp_path: Path) -> None:
    record = run_script(
        tmp_path,
        """
        import time
        from recording import show
        show("before the hang", 1.0)
        time.sleep(300)
        """,
        timeout_seconds=3,
    )
    assert record.status is RunStatus.TIMEOUT
    assert record.exit_code is None
    assert set(values(record)) == {"before the hang"}


def test_the_records_file_is_json_lines_with_standard_json(tmp_path: Path) -> None:
    records = tmp_path / "records.jsonl"
    script = tmp_path / "s.py"
    script.write_text(
        "from recording import show\nshow('nan', float('nan'))\nshow('inf', [float('inf')])\n",
        encoding="utf-8",
    )
    subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": str(INSIDE), "SEEDMATRIX_RECORDS": str(records)},
        check=True,
        capture_output=True,
    )
    for line in records.read_text(encoding="ascii").splitlines():
        json.loads(line, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))


def test_a_script_that_skips_itself_is_a_skipped_record_with_its_reason(tmp_path: Path) -> None:
    record = run_script(
        tmp_path,
        """
        from recording import show, skip
        show("before", 1.0)
        skip("CuPy is not installed in this interpreter")
        show("never", 2.0)
        """,
    )
    assert record.status is RunStatus.SKIPPED
    assert record.skipped == "CuPy is not installed in this interpreter"
    assert [value.label for value in record.values] == ["before"]
    assert "skipped: CuPy is not installed" in record.output


def test_the_work_a_script_times_itself_is_summed_into_its_record(tmp_path: Path) -> None:
    record = run_script(
        tmp_path,
        """
        import time
        from recording import show, timed
        import_like_set_up = time.sleep(0.3)
        with timed():
            time.sleep(0.05)
        with timed():
            time.sleep(0.05)
        show("x", 1.0)
        """,
    )
    assert record.status is RunStatus.OK
    assert record.work_seconds is not None
    assert record.script_seconds is not None
    assert 0.1 <= record.work_seconds < 0.3 <= record.script_seconds  # the set-up is not in the work
    untimed = run_script(tmp_path, 'from recording import show\nshow("x", 1.0)\n')
    assert untimed.work_seconds is None


@pytest.mark.parametrize("forged", ['"soon"', "-1", "NaN", "true"])
def test_a_forged_time_makes_the_record_bad_not_a_timing(tmp_path: Path, forged: str) -> None:
    record = run_script(
        tmp_path,
        f"""
        import os
        from recording import show
        show("x", 1.0)
        with open(os.environ["SEEDMATRIX_RECORDS"], "a") as stream:
            stream.write('{{"timed": {forged}}}\\n')
        """,
    )
    assert record.status is RunStatus.BAD_OUTPUT
    assert record.work_seconds is None
    assert "record line 2 is unreadable" in record.stderr_tail


FAKE_CUPY = """
import sys, types
cupy = types.ModuleType("cupy")
runtime = types.SimpleNamespace(
    getDeviceCount=lambda: {count},
    getDeviceProperties=lambda index: {{"name": b"Stand-in GPU"}},
    runtimeGetVersion=lambda: 13000,
)
cupy.cuda = types.SimpleNamespace(runtime=runtime)
sys.modules["cupy"] = cupy
from recording import show
show("x", 1.0)
"""


def test_a_cupy_script_reports_the_gpu_cupy_sees_and_none_is_not_a_gpu(tmp_path: Path) -> None:
    """CuPy's own report, through a stand-in module (this machine has no CuPy and no GPU): the
    reporter's reading of what CuPy says, not a claim that a GPU ran."""
    seen = run_script(tmp_path, FAKE_CUPY.format(count=1)).device
    assert (seen["kind"], seen["framework"], seen["gpu_model"]) == ("GPU", "cupy", "Stand-in GPU")
    none = run_script(tmp_path, FAKE_CUPY.format(count=0)).device
    assert (none["kind"], none["detail"]) == ("CPU fallback", "CuPy sees no GPU")
    broken = run_script(tmp_path, FAKE_CUPY.format(count="1 / 0")).device
    assert broken["kind"] == "CPU fallback"
    assert "ZeroDivisionError" in broken["detail"]


FAKE_TORCH_AND_JAX = """
import sys, types
torch = types.ModuleType("torch")
torch.version = types.SimpleNamespace(cuda=None)
torch.cuda = types.SimpleNamespace(is_available=lambda: False)
sys.modules["torch"] = torch
jax = types.ModuleType("jax")
device = types.SimpleNamespace(platform="{platform}", device_kind="Stand-in GPU")
jax.devices = lambda: [device]
sys.modules["jax"] = jax
from recording import show
show("x", 1.0)
"""


def test_each_imported_framework_reports_its_own_device(tmp_path: Path) -> None:
    """Before: the first imported framework's device was the report, so a JAX run on the GPU with
    torch merely imported read "ran on CPU". Stand-in modules: this machine has neither."""
    mixed = run_script(tmp_path, FAKE_TORCH_AND_JAX.format(platform="gpu")).device
    kinds = {name: each["kind"] for name, each in mixed["frameworks"].items()}
    assert kinds == {"torch": "CPU", "jax": "GPU"}
    assert mixed["kind"] == "mixed"
    assert mixed["framework"] == "torch, jax"
    assert mixed["frameworks"]["jax"]["gpu_model"] == "Stand-in GPU"
    assert "torch: CPU" in mixed["detail"]
    assert "jax: GPU" in mixed["detail"]
    agreeing = run_script(tmp_path, FAKE_TORCH_AND_JAX.format(platform="cpu")).device
    assert (agreeing["kind"], set(agreeing["frameworks"])) == ("CPU", {"torch", "jax"})
    cupy_alone = run_script(tmp_path, FAKE_CUPY.format(count=1)).device
    assert (cupy_alone["kind"], list(cupy_alone["frameworks"])) == ("GPU", ["cupy"])


@pytest.fixture
def recording_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The recorder imported in this process, with no GPU framework imported beside it."""
    monkeypatch.syspath_prepend(str(INSIDE))
    monkeypatch.setitem(sys.modules, "recording", sys.modules.get("recording"))  # restored at the end
    del sys.modules["recording"]
    for name in ("torch", "jax", "cupy", "tensorflow"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module("recording")


def _fake_tensorflow(placed_on: str, visible: list[str]) -> types.ModuleType:
    tf = types.ModuleType("tensorflow")
    gpu = types.SimpleNamespace(name="/physical_device:GPU:0")

    class Tensor:
        device = placed_on

        def __add__(self, other: object) -> Tensor:
            return self

    tf.config = types.SimpleNamespace(  # type: ignore[attr-defined]
        list_physical_devices=lambda kind: [gpu] if kind == "GPU" else [],
        list_logical_devices=lambda kind: [types.SimpleNamespace(name=name) for name in visible],
        experimental=types.SimpleNamespace(get_device_details=lambda device: {"device_name": "Stand-in GPU"}),
    )
    tf.sysconfig = types.SimpleNamespace(  # type: ignore[attr-defined]
        get_build_info=lambda: {"is_cuda_build": True, "cuda_version": "12.5", "cudnn_version": "9"}
    )
    tf.constant = lambda values: Tensor()  # type: ignore[attr-defined]
    return tf


CPU_OP = "/job:localhost/replica:0/task:0/device:CPU:0"
GPU_OP = "/job:localhost/replica:0/task:0/device:GPU:0"


@pytest.mark.parametrize(
    ("placed_on", "visible", "kind"),
    [
        (CPU_OP, [], "CPU"),  # set_visible_devices([], "GPU"): the physical GPU is still listed
        (CPU_OP, ["/device:GPU:0"], "CPU"),  # ops pinned to the CPU
        (GPU_OP, [], "unknown"),  # the two disagree: never GPU
        ("", ["/device:GPU:0"], "unknown"),  # no placement read
        (GPU_OP, ["/device:GPU:0"], "GPU"),
    ],
)
def test_tensorflow_reports_a_gpu_only_where_its_probe_op_ran_on_one(
    recording_module: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    placed_on: str,
    visible: list[str],
    kind: str,
) -> None:
    """Before: the kind came from list_physical_devices("GPU") alone, which still lists a GPU the
    script hid, and the report's own probe op placed on the CPU was ignored: "GPU" for CPU work."""
    monkeypatch.setitem(sys.modules, "tensorflow", _fake_tensorflow(placed_on, visible))
    report = recording_module._device()
    assert report["kind"] == kind, report


def _fake_torch(*, initialized: bool, peak_bytes: int) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.version = types.SimpleNamespace(cuda="12.4")  # type: ignore[attr-defined]
    torch.backends = types.SimpleNamespace(cudnn=types.SimpleNamespace(version=lambda: 90100))  # type: ignore[attr-defined]
    state = {"initialized": initialized}

    def get_device_name(index: int) -> str:
        state["initialized"] = True  # as in PyTorch: asking for a device's name initializes CUDA
        return "Stand-in GPU"

    torch.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        is_available=lambda: True,
        is_initialized=lambda: state["initialized"],
        device_count=lambda: 1,
        max_memory_allocated=lambda index: peak_bytes if state["initialized"] else 0,
        get_device_name=get_device_name,
    )
    return torch


@pytest.mark.parametrize(
    ("initialized", "peak_bytes", "kind"), [(False, 0, "CPU"), (True, 0, "CPU"), (True, 4096, "GPU")]
)
def test_pytorch_reports_a_gpu_only_where_it_allocated_memory_on_one(
    recording_module: types.ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    initialized: bool,
    peak_bytes: int,
    kind: str,
) -> None:
    """Before: "GPU" whenever torch.cuda.is_available(), wherever the script's tensors were."""
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(initialized=initialized, peak_bytes=peak_bytes))
    report = recording_module._device()
    assert report["kind"] == kind, report


def _fake_jax(default_platform: str) -> types.ModuleType:
    jax = types.ModuleType("jax")
    gpu = types.SimpleNamespace(platform="gpu", device_kind="Stand-in GPU")
    cpu = types.SimpleNamespace(platform="cpu", device_kind="cpu")
    placed = gpu if default_platform == "gpu" else cpu
    jax.devices = lambda: [gpu]  # type: ignore[attr-defined]
    jax.device_put = lambda value: types.SimpleNamespace(devices=lambda: [placed])  # type: ignore[attr-defined]
    return jax


@pytest.mark.parametrize(("default_platform", "kind"), [("cpu", "CPU"), ("gpu", "GPU")])
def test_jax_reports_a_gpu_only_where_it_puts_new_arrays_on_one(
    recording_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch, default_platform: str, kind: str
) -> None:
    """Before: "GPU" whenever jax.devices() listed one, also under a default device set to the CPU
    (`jax.config.update("jax_default_device", cpu)`), where every array of the script lived."""
    monkeypatch.setitem(sys.modules, "jax", _fake_jax(default_platform))
    report = recording_module._device()
    assert report["kind"] == kind, report


def test_big_endian_arrays_record_the_bits_of_their_values_not_of_their_bytes(tmp_path: Path) -> None:
    """Before: `>f4` [1, 2] was recorded byte-swapped, 32,767 ULP from [2, 1000], unequal to native."""
    record = run_script(
        tmp_path,
        """
        import numpy as np, ml_dtypes
        from recording import show
        for name in ("f2", "f4", "f8", "c8", "c16", "i2", "i4", "u8", "M8[s]", "m8[ms]"):
            native = np.array([1, 2], dtype="=" + name)
            show("native " + name, native)
            show("big " + name, native.astype(">" + name))
            show("little " + name, native.astype("<" + name))
        bfloat16 = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
        show("native bfloat16", bfloat16)
        show("big bfloat16", bfloat16.astype(bfloat16.dtype.newbyteorder(">")))
        show("big near", np.array([1, 2], dtype=">f4"))
        show("big far", np.array([2, 1000], dtype=">f4"))
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    found = values(record)
    for name in ("f2", "f4", "f8", "c8", "c16", "i2", "i4", "u8", "M8[s]", "m8[ms]", "bfloat16"):
        assert found[f"big {name}"].key == found[f"native {name}"].key, name
        assert found.get(f"little {name}", found[f"native {name}"]).key == found[f"native {name}"].key
    assert found["native f4"].bits == ("3f800000", "40000000")
    assert found["native c8"].bits == ("3f80000000000000", "4000000000000000")
    assert found["native bfloat16"].bits == ("3fc0", "c000")
    far = difference(found["big far"], found["big near"])
    assert (far.max_abs, far.first_index) == (998.0, (0,))
    assert within(found["big far"], found["big near"], atol=1e-6) is not None


def test_a_masked_array_never_records_the_data_under_its_mask(tmp_path: Path) -> None:
    """Before: a masked array with masked elements was unrecordable, so never checked. Now it keeps
    its mask; the data under the mask is no part of it, so it never counts."""
    record = run_script(
        tmp_path,
        """
        import numpy as np
        from recording import show
        show("masked", np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False]))
        show("other data under the mask", np.ma.masked_array([1.0, -7.5, 3.0], mask=[False, True, False]))
        show("other mask", np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, False, True]))
        show("masked in a list", [np.ma.masked_array([1.0, 2.0], mask=[False, True])] * 2)
        show("other data in a list", [np.ma.masked_array([1.0, 9.0], mask=[False, True])] * 2)
        show("objects", np.ma.masked_array([1, "anything"], dtype=object, mask=[False, True]))
        show("integers as objects", np.ma.masked_array([1, 2], dtype=object, mask=[False, True]))
        show("all masked", np.ma.masked_array(np.arange(4, dtype=">i4").reshape(2, 2), mask=True))
        fields = np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])
        show("masked field", np.ma.masked_array(fields, mask=[(False, True), (False, False)]))
        show("nothing masked", np.ma.masked_array([1.0, 2.0], mask=[False, False]))
        show("plain", np.array([1.0, 2.0]))
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    found = values(record)
    masked = found["masked"]
    assert (masked.dtype, masked.shape, masked.mask) == ("float64", (3,), (False, True, False))
    assert masked.bits == (struct.pack(">d", 1.0).hex(), "", struct.pack(">d", 3.0).hex())
    assert masked.values == (1.0, "--", 3.0)
    assert found["other data under the mask"].key == masked.key
    assert difference(found["other data under the mask"], masked).equal
    moved = difference(found["other mask"], masked)
    assert (moved.equal, moved.differing, moved.first_index) == (False, 2, (1,))
    assert "mask differs at 2 element(s), first at [1]" in moved.notes
    assert within(found["other mask"], masked, atol=math.inf) == "mask differs at 2 element(s), first at [1]"
    assert found["other data in a list"].key == found["masked in a list"].key
    assert found["objects"].key == found["integers as objects"].key  # the fill's type is no part of it
    assert found["objects"].dtype == "int"
    assert found["all masked"].mask == (True,) * 4
    assert found["all masked"].dtype == "int32"
    assert found["masked field"].dtype == "unrecordable"
    assert "structured masked array" in found["masked field"].note
    assert found["nothing masked"].key == found["plain"].key
    assert found["nothing masked"].mask is None


def test_strided_complex_arrays_record_each_element(tmp_path: Path) -> None:
    """Before: a strided complex array could not be viewed as its parts and was unrecordable."""
    record = run_script(
        tmp_path,
        """
        import numpy as np
        from recording import show
        whole = np.arange(8, dtype=np.complex64) * (1 + 1j)
        show("every second", whole[::2])
        show("transposed", whole.reshape(2, 4).T)
        show("middle columns", whole.reshape(2, 4)[:, 1:3])
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    found = values(record)
    two = struct.pack(">ff", 2.0, 2.0).hex()
    assert found["every second"].bits[1] == two
    assert [number_of(bits) for bits in found["every second"].bits] == [0, 2, 4, 6]
    assert found["transposed"].shape == (4, 2)
    assert [number_of(bits) for bits in found["transposed"].bits] == [0, 4, 1, 5, 2, 6, 3, 7]
    assert [number_of(bits) for bits in found["middle columns"].bits] == [1, 2, 5, 6]


def number_of(complex64_bits: str) -> float:
    """The real part of a complex64 whose imaginary part equals it (checked)."""
    real, imaginary = struct.unpack(">ff", bytes.fromhex(complex64_bits))
    assert real == imaginary
    return float(real)


def test_structured_arrays_compare_their_fields_never_their_padding(tmp_path: Path) -> None:
    """Before: each element's raw bytes were recorded, padding and byte order included."""
    record = run_script(
        tmp_path,
        """
        import numpy as np
        from recording import show
        layout = np.dtype([("step", "u1"), ("loss", "f4")], align=True)  # 3 padding bytes
        clean = np.zeros(2, dtype=layout)
        clean["step"], clean["loss"] = [1, 2], [0.5, 0.25]
        dirty = clean.copy()
        dirty.view(np.uint8).reshape(2, -1)[:, 1:4] = 0xAB
        other = clean.copy()
        other["loss"][1] = 0.125
        swapped = clean.astype(np.dtype([("step", "u1"), ("loss", ">f4")], align=True))
        show("clean", clean)
        show("dirty padding", dirty)
        show("other loss", other)
        show("big-endian field", swapped)
        """,
    )
    assert record.status is RunStatus.OK, record.stderr_tail
    found = values(record)
    assert found["dirty padding"].key == found["clean"].key
    assert found["big-endian field"].key == found["clean"].key
    other = difference(found["other loss"], found["clean"])
    assert (other.equal, other.differing, other.first_index) == (False, 1, (1,))
    assert "0.25" in str(found["clean"].values[1])
