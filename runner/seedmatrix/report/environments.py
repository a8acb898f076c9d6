"""The environments: what each image or interpreter held, where it ran, what its CPU dispatched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..cpu import Applied, kernels
from ..markdown import code, details, fenced, plain, table
from ..results import FRAMEWORKS, EnvironmentResult, Record, Results
from ..verdicts import LimitCheck, cpu_readbacks, cpu_requests
from .common import WIDE, cut, env_heading, listed, machine_note

#: Its heading in MATRIX.md.
TITLE = "Environments"


def environments(results: Results, limits: Sequence[LimitCheck] = ()) -> str:
    wide = len(results.environments) > WIDE
    # A column for each framework some environment has, in FRAMEWORKS order.
    shown = [
        name
        for name in FRAMEWORKS
        if any(env.build.observed and env.build.observed.version(name) for env in results.environments)
    ]
    header = [
        "environment",
        "host",
        "base",
        "Python",
        *(FRAMEWORK_TITLES[name] for name in shown),
        "device that ran",
        "CPU and the kernels it ran",
        "image",
        "size",
        "build",
    ]
    rows = []
    for env in results.environments:
        observed = env.build.observed
        versions = [(observed.version(name) or "—") if observed else "—" for name in shown]
        rows.append(
            [
                env_heading(env.name, results.reference),
                plain(env.host) or "—",
                _base(env) + (f"<br>{plain(note)}" if (note := machine_note(results, env)) else ""),
                observed.python if observed else "—",
                *(plain(version) for version in versions),
                _devices(
                    record for case in results.cases for record in results.records_of(env.name, case.name)
                ),
                _kernels_text(results, env),
                f"`{env.build.image_id.removeprefix('sha256:')[:12]}`" if env.build.image_id else "—",
                _size(env.build.size),
                _build(env),
            ]
        )
    environments = table(header, rows, [":--"] * (len(header) - 2) + ["--:", ":--"])
    requests = _requests_lines(results)
    lines = [
        f"## {TITLE}",
        "",
        "Versions are read inside each image (or interpreter), not copied from matrix.yaml.",
        "",
    ]
    lines += details("All environments", environments) if wide else environments
    if requests:
        lines += ["", "CPU requests (`cpu_isa:`, `onednn:`), as each run read back what it dispatched:", ""]
        lines += requests
    if limits:
        lines += ["", "Limits not as asked, as each repeat read them back from inside:", ""]
        lines += _limits_lines(limits)
    lines += listed(
        [
            f"- **{env.name}**: {plain(env.build.error or '', 400)}"
            for env in results.environments
            if env.build.error
        ]
    )
    # Identical freezes are shown once, with the environments that share them.
    freezes: dict[tuple[str, ...], list[str]] = {}
    for env in results.environments:
        if env.build.observed:
            freezes.setdefault(env.build.observed.pip_freeze, []).append(env.name)
    body: list[str] = []
    for freeze, names in freezes.items():
        body += [f"**{cut(names)}**", "", *fenced(list(freeze)), ""]
    lines += ["", *details("pip freeze of each image", body)]
    return "\n".join(lines)


def _kernels_text(results: Results, env: EnvironmentResult) -> str:
    found = kernels([readback for _, readback in cpu_readbacks(results, env.name)], env.dispatch)
    if not found.cpu and not found.dispatched:
        return "—"
    cpu = found.cpu
    if cpu and machine_note(results, env).endswith("emulated"):
        # Under QEMU user emulation the frameworks read the emulated CPU's features (QEMU's own
        # model), while /proc/cpuinfo is the host's: the CPU named is not the one that computed.
        cpu = f"QEMU user emulation on {cpu}"
    return "<br>".join(plain(part, 120) for part in (cpu, " · ".join(found.dispatched)) if part)


REQUEST_MARK = {
    Applied.APPLIED: "✔",
    Applied.IGNORED: "⚠️ IGNORED",
    Applied.NOT_USED: "·",
    Applied.UNKNOWN: "❔",
}


def _requests_lines(results: Results) -> list[str]:
    lines = []
    for requests in cpu_requests(results):
        cpu_isa, onednn = requests.cpu_isa, requests.onednn
        asked = ", ".join(
            [
                *([f"cpu_isa {cpu_isa}"] if cpu_isa else []),
                *([f"onednn {'on' if onednn else 'off'}"] if onednn is not None else []),
            ]
        )
        verdicts = "; ".join(
            f"{request.framework} {REQUEST_MARK[request.applied]} {plain(request.seen, 120)}"
            for request in requests.found
        )
        name = requests.environment.name
        lines.append(f"- **{name}** ({plain(asked)}): {verdicts or 'no run read anything back'}")
    return lines


def _limits_lines(limits: Sequence[LimitCheck]) -> list[str]:
    """Per environment, each limit not as asked, with the cases and repeats it was seen in."""
    found: dict[str, dict[str, tuple[list[str], int]]] = {}
    for check in limits:
        cases, repeats = found.setdefault(check.environment, {}).get(check.text, ([], 0))
        found[check.environment][check.text] = ([*cases, check.case], repeats + check.repeats)
    lines = []
    for environment, texts in found.items():
        parts = [
            f"{plain(text)}: {repeats} repeat{'s' if repeats > 1 else ''} of {cut(cases)}"
            for text, (cases, repeats) in texts.items()
        ]
        lines.append(f"- **{environment}**: " + "; ".join(parts))
    return lines


#: How each framework is written in headings.
FRAMEWORK_TITLES = {"numpy": "NumPy", "tensorflow": "TensorFlow", "torch": "PyTorch", "jax": "JAX"}


def _base(env: EnvironmentResult) -> str:
    if env.requested.get("debian"):
        return f"Debian {plain(str(env.requested['debian']))}"
    if env.requested.get("host_python"):
        return f"host {code(str(env.requested['host_python']))}, no container"
    return code(str(env.requested.get("base_image", "?")))


def _devices(records: Iterable[Record]) -> str:
    seen = sorted(
        {(str(r.device.get("kind", "?")), str(r.device.get("detail", ""))) for r in records if r.device}
    )
    if not seen:
        return "—"
    return "<br>".join(plain(f"{kind} ({detail})" if detail else kind, 200) for kind, detail in seen)


def _build(env: EnvironmentResult) -> str:
    text = f"{env.build.status.value} {env.build.seconds:.1f} s"
    return f"{text}, log {code(env.build.log)}" if env.build.log and env.build.error else text


def _size(size: int | None) -> str:
    if not size:
        return "—"
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
