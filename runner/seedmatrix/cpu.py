"""The CPU as a device: what a CPU offers, the instruction-set switches the frameworks document,
and whether what a run read back shows a request applied, ignored, or not in play.

The same wheel computes with other kernels on other CPUs: NumPy, OpenBLAS, oneDNN (TensorFlow),
MKL and PyTorch pick SIMD code paths at run time. An environment's `cpu_isa:` caps them all at one
level through their documented variables, and `onednn:` turns TensorFlow's oneDNN optimisations on
or off. Nothing here is taken on trust: each run reads back what was dispatched, and a request a
framework ignored is reported as ignored. No Docker here; the only I/O is reading /proc/cpuinfo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

#: The instruction-set flags (as /proc/cpuinfo names them) that decide which kernels run.
FLAGS_OF_INTEREST = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512cd",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
#: NumPy's dispatch targets above each level (names of NumPy 1.x and 2.x; unknown names are ignored).
_AVX512_EXTENSIONS = ("AVX512_CLX", "AVX512_CNL", "AVX512_ICL", "AVX512_SPR")
_AVX512 = ("AVX512F", "AVX512CD", "AVX512_KNL", "AVX512_KNM", "AVX512_SKX", "X86_V4", *_AVX512_EXTENSIONS)
_AVX2 = ("AVX2", "FMA3", "X86_V3")
_AVX = ("AVX", "F16C")


@dataclass(frozen=True, kw_only=True)
class IsaLevel:
    """One `cpu_isa:` value and the documented switch of each framework that caps it there."""

    title: str
    needs: tuple[str, ...]  # /proc/cpuinfo flags the host must have
    onednn: str  # ONEDNN_MAX_CPU_ISA
    onednn_reports: str  # what oneDNN's verbose mode then says it uses ("isa:<this>")
    openblas: str  # OPENBLAS_CORETYPE
    mkl: str  # MKL_ENABLE_INSTRUCTIONS
    aten: str  # ATEN_CPU_CAPABILITY (PyTorch)
    torch_reports: str  # what torch.backends.cpu.get_cpu_capability() then returns
    numpy_off: tuple[str, ...]  # NPY_DISABLE_CPU_FEATURES: NumPy's targets above the level


LEVELS: dict[str, IsaLevel] = {
    "sse4.2": IsaLevel(
        title="SSE4.2",
        needs=("sse4_2",),
        onednn="SSE41",
        onednn_reports="Intel SSE4.1",
        openblas="Nehalem",
        mkl="SSE4_2",
        aten="default",
        torch_reports="DEFAULT",
        numpy_off=(*_AVX, *_AVX2, *_AVX512),
    ),
    "avx": IsaLevel(
        title="AVX",
        needs=("avx",),
        onednn="AVX",
        onednn_reports="Intel AVX",
        openblas="Sandybridge",
        mkl="AVX",
        aten="default",
        torch_reports="DEFAULT",
        numpy_off=(*_AVX2, *_AVX512),
    ),
    "avx2": IsaLevel(
        title="AVX2",
        needs=("avx2", "fma"),
        onednn="AVX2",
        onednn_reports="Intel AVX2",
        openblas="Haswell",
        mkl="AVX2",
        aten="avx2",
        torch_reports="AVX2",
        numpy_off=_AVX512,
    ),
    "avx512": IsaLevel(
        title="AVX-512",
        needs=("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"),
        onednn="AVX512_CORE",
        onednn_reports="Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions",
        openblas="SkylakeX",
        mkl="AVX512",
        aten="avx512",
        torch_reports="AVX512",
        numpy_off=_AVX512_EXTENSIONS,
    ),
}
#: Every variable a request may set: a run's read-back shows each one's value as the run saw it.
SWITCHES = (
    "NPY_DISABLE_CPU_FEATURES",
    "ONEDNN_MAX_CPU_ISA",
    "OPENBLAS_CORETYPE",
    "MKL_ENABLE_INSTRUCTIONS",
    "ATEN_CPU_CAPABILITY",
    "TF_ENABLE_ONEDNN_OPTS",
)


def switches(cpu_isa: str | None, onednn: bool | None) -> dict[str, str]:
    """The variables that apply `cpu_isa:` and `onednn:` (empty when neither is set)."""
    found: dict[str, str] = {}
    if cpu_isa is not None:
        level = LEVELS[cpu_isa]
        found |= {
            "NPY_DISABLE_CPU_FEATURES": " ".join(level.numpy_off),
            "ONEDNN_MAX_CPU_ISA": level.onednn,
            "OPENBLAS_CORETYPE": level.openblas,
            "MKL_ENABLE_INSTRUCTIONS": level.mkl,
            "ATEN_CPU_CAPABILITY": level.aten,
        }
    if onednn is not None:
        found["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
    return found


@dataclass(frozen=True, kw_only=True)
class CpuFacts:
    vendor: str
    model: str
    flags: frozenset[str]  # those of FLAGS_OF_INTEREST the CPU has


def parse_cpuinfo(text: str) -> CpuFacts | None:
    """The first processor of /proc/cpuinfo; None when the text names none (not Linux on x86)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if "flags" not in fields:
        return None
    flags = frozenset(fields["flags"].split()) & frozenset(FLAGS_OF_INTEREST)
    return CpuFacts(vendor=fields.get("vendor_id", "?"), model=fields.get("model name", "?"), flags=flags)


def host_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuFacts | None:
    """This machine's CPU (the engine's containers run on it too: seedmatrix uses a local engine)."""
    try:
        return parse_cpuinfo(cpuinfo.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def machine_identity(facts: CpuFacts | None) -> str:
    """The CPU as part of a cache key: another CPU model or instruction set may compute other bits."""
    return f"{facts.vendor}/{facts.model}/{','.join(sorted(facts.flags))}" if facts else "unknown CPU"


def lacking(cpu_isa: str, facts: CpuFacts | None) -> str | None:
    """Why this host cannot run `cpu_isa` (None when it can)."""
    level = LEVELS[cpu_isa]
    if facts is None:
        return f"cpu_isa {cpu_isa}: this host's instruction sets are unknown (no flags in /proc/cpuinfo)"
    missing = [flag for flag in level.needs if flag not in facts.flags]
    if missing:
        return f"cpu_isa {cpu_isa} needs {', '.join(missing)}; this host's CPU ({facts.model}) lacks them"
    return None


def summary(flags: frozenset[str] | set[str] | list[str]) -> str:
    """'AVX-512 (VNNI, BF16, FP16), AMX': the highest instruction sets of a flag list, for people."""
    have = set(flags)
    if "avx512f" in have:
        extras = [
            name
            for flag, name in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"), ("avx512_fp16", "FP16"))
            if flag in have
        ]
        text = "AVX-512" + (f" ({', '.join(extras)})" if extras else "")
    elif "avx2" in have:
        text = "AVX2" + (" + FMA" if "fma" in have else "")
    elif "avx" in have:
        text = "AVX"
    elif "sse4_2" in have:
        text = "SSE4.2"
    else:
        text = "no SSE4.2"
    return text + (", AMX" if "amx_tile" in have else "")


class Applied(StrEnum):
    APPLIED = "applied"  # the read-back shows the requested level
    IGNORED = "ignored"  # the framework ran, at another level than asked
    NOT_USED = "not used"  # the framework did not run in this process (nothing to check)
    UNKNOWN = "unknown"  # the run could not read its CPU back (the error is shown)


@dataclass(frozen=True, kw_only=True)
class Request:
    """One framework's answer to an environment's `cpu_isa:` / `onednn:`, as read back."""

    framework: str
    applied: Applied
    seen: str  # what the read-back shows


def check_requests(
    cpu_isa: str | None, onednn: bool | None, readback: Mapping[str, Any], onednn_isa: str | None
) -> tuple[Request, ...]:
    """Each framework's verdict on the requests, from one run's read-back (`device["cpu"]`) and
    the oneDNN ISA its environment's dispatch probe saw (None: oneDNN not seen)."""
    found: list[Request] = []
    if "error" in readback:
        return (Request(framework="the read-back", applied=Applied.UNKNOWN, seen=str(readback["error"])),)
    if cpu_isa is not None:
        level = LEVELS[cpu_isa]
        targets = readback.get("numpy_simd")
        if isinstance(targets, list):
            above = sorted(set(map(str, targets)) & set(level.numpy_off))
            found.append(
                Request(
                    framework="NumPy",
                    applied=Applied.IGNORED if above else Applied.APPLIED,
                    seen=", ".join(map(str, targets)) or "baseline only",
                )
            )
        else:
            found.append(Request(framework="NumPy", applied=Applied.NOT_USED, seen="not loaded"))
        core = readback.get("blas_core")
        found.append(_compare("OpenBLAS", core, level.openblas))
        found.append(_onednn(level, readback, onednn_isa))
        found.append(_compare("PyTorch", readback.get("torch_capability"), level.torch_reports))
    if onednn is not None:
        enabled = readback.get("tf_onednn")
        if isinstance(enabled, bool):
            verdict = Applied.APPLIED if enabled == onednn else Applied.IGNORED
            found.append(
                Request(framework="TensorFlow oneDNN", applied=verdict, seen="on" if enabled else "off")
            )
        else:
            found.append(Request(framework="TensorFlow oneDNN", applied=Applied.NOT_USED, seen="not loaded"))
    return tuple(found)


def _onednn(level: IsaLevel, readback: Mapping[str, Any], onednn_isa: str | None) -> Request:
    """oneDNN's ISA comes from the environment's probe, so it speaks for a run only if the run loaded
    TensorFlow with the environment's switch (a case's own `env:` may have set another)."""
    if "tf_onednn" not in readback:
        return Request(framework="oneDNN", applied=Applied.NOT_USED, seen="TensorFlow not loaded")
    switches = readback.get("switches")
    asked = switches.get("ONEDNN_MAX_CPU_ISA") if isinstance(switches, Mapping) else None
    if isinstance(switches, Mapping) and asked != level.onednn:
        return Request(
            framework="oneDNN", applied=Applied.IGNORED, seen=f"ONEDNN_MAX_CPU_ISA={asked} in this run"
        )
    return _compare("oneDNN", onednn_isa, level.onednn_reports)


def _compare(framework: str, seen: object, wanted: str) -> Request:
    if not isinstance(seen, str) or not seen:
        return Request(framework=framework, applied=Applied.NOT_USED, seen="not loaded")
    verdict = Applied.APPLIED if seen.casefold() == wanted.casefold() else Applied.IGNORED
    return Request(framework=framework, applied=verdict, seen=seen)


@dataclass(frozen=True, kw_only=True)
class Kernels:
    """What an environment's runs read back: the CPU and each framework's dispatched kernels."""

    cpu: str  # "AMD EPYC · AVX-512 (VNNI, BF16)"; "" when no run reported one
    dispatched: tuple[str, ...]  # "NumPy up to X86_V4", "OpenBLAS SkylakeX", "oneDNN Intel AVX2", …


def kernels(readbacks: Sequence[Mapping[str, Any]], dispatch: Mapping[str, Any]) -> Kernels:
    """One environment's CPU and kernels from its runs' read-backs (`device["cpu"]`) and its
    oneDNN probe; a value that differs between runs (a case that set its own switch) shows each."""

    def seen(key: str) -> list[str]:
        values = [_text(readback.get(key)) for readback in readbacks]
        return list(dict.fromkeys(value for value in values if value))

    models = seen("model")
    flags: list[str] = next(
        (readback["flags"] for readback in readbacks if isinstance(readback.get("flags"), list)), []
    )
    cpu = " / ".join(models) + (f" · {summary(flags)}" if flags else "") if models else ""
    parts = []
    # NumPy's highest enabled dispatch target (none enabled: its baseline alone)
    simd = [
        str(readback["numpy_simd"][-1]) if readback["numpy_simd"] else "its baseline"
        for readback in readbacks
        if isinstance(readback.get("numpy_simd"), list)
    ]
    parts += [f"NumPy up to {' / '.join(dict.fromkeys(simd))}"] if simd else []
    parts += [f"OpenBLAS {' / '.join(seen('blas_core'))}"] if seen("blas_core") else []
    if dispatch.get("onednn_isa"):
        parts.append(f"oneDNN {dispatch['onednn_isa']}")
    onednn = seen("tf_onednn")
    parts += [f"TensorFlow oneDNN {' / '.join(onednn)}"] if onednn else []
    parts += [f"PyTorch {' / '.join(seen('torch_capability'))}"] if seen("torch_capability") else []
    return Kernels(cpu=cpu, dispatched=tuple(parts))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return value if isinstance(value, str) else ""


def environment_requests(
    cpu_isa: str | None,
    onednn: bool | None,
    readbacks: Sequence[tuple[str, Mapping[str, Any]]],
    dispatch: Mapping[str, Any],
) -> tuple[Request, ...]:
    """Per framework, over every run (case, read-back) of an environment: ignored if any run shows
    it ignored (naming the case), else applied if any run shows it applied, else not used."""
    verdicts: dict[str, list[tuple[str, Request]]] = {}
    for case, readback in readbacks:
        for request in check_requests(cpu_isa, onednn, readback, dispatch.get("onednn_isa")):
            verdicts.setdefault(request.framework, []).append((case, request))
    found = []
    for framework, seen in verdicts.items():
        ignored = [(case, request) for case, request in seen if request.applied is Applied.IGNORED]
        applied = [request for _, request in seen if request.applied is Applied.APPLIED]
        unknown = [request for _, request in seen if request.applied is Applied.UNKNOWN]
        if ignored:
            cases = ", ".join(dict.fromkeys(case for case, _ in ignored))
            found.append(
                Request(framework=framework, applied=Applied.IGNORED, seen=f"{ignored[0][1].seen} ({cases})")
            )
        elif unknown:
            found.append(unknown[0])
        elif applied:
            found.append(applied[0])
        else:
            found.append(Request(framework=framework, applied=Applied.NOT_USED, seen="not loaded"))
    return tuple(found)
