"""CPU architectures as devices: the platforms an environment may ask for, and how the tools name them.

A foreign platform's images run under QEMU user emulation (binfmt_misc): each repeat still runs the
real aarch64 (or x86-64) instructions of its frameworks, translated, so the bits it computes are the
platform's; its timings and its CPU features are not.
"""

from __future__ import annotations

import platform
from pathlib import Path

#: platform (as Docker names it) → Debian's architecture, and the machine name `uname -m` gives.
DEBIAN_ARCH = {"linux/amd64": "amd64", "linux/arm64": "arm64"}
MACHINE = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
#: Other systems' names for those machines: macOS says arm64 (Apple silicon, whose Docker Desktop
#: engine runs aarch64 natively), Windows and the BSDs AMD64 or amd64.
_SAME_MACHINE = {"arm64": "aarch64", "amd64": "x86_64", "AMD64": "x86_64"}


def _linux_name(machine: str) -> str:
    return _SAME_MACHINE.get(machine, machine)


def host_platform() -> str | None:
    """This machine's platform as Docker names it; None for one seedmatrix does not know."""
    machine = _linux_name(platform.machine())
    return next((name for name, known in MACHINE.items() if known == machine), None)


def foreign(requested: str | None) -> bool:
    """Whether an environment asking for `requested` runs emulated here (None: the host's own)."""
    return requested is not None and requested != host_platform()


def emulated(machine: str | None, host_machine: str | None) -> bool | None:
    """Whether an image that reported `machine` ran emulated on a host of `host_machine`; None when
    either is unknown."""
    if not machine or not host_machine:
        return None
    return _linux_name(machine) != _linux_name(host_machine)


def debian_arch(requested: str | None) -> str | None:
    """Debian's name for the architecture an environment asking for `requested` is made for."""
    return DEBIAN_ARCH.get(requested or host_platform() or "")


#: Where the kernel's binfmt_misc registrations are (qemu-user-static registers `qemu-<machine>`).
BINFMT = Path("/proc/sys/fs/binfmt_misc")


def emulation_missing(requested: str | None) -> str | None:
    """Why this machine cannot run `requested`'s binaries, or None when it can (its own platform, or
    QEMU registered for that machine in binfmt_misc)."""
    if not foreign(requested):
        return None
    assert requested is not None  # foreign() says so
    machine = MACHINE[requested]
    try:
        registered = (BINFMT / f"qemu-{machine}").read_text(encoding="ascii")
    except OSError:
        registered = ""
    if registered.splitlines()[:1] == ["enabled"]:
        return None
    return (
        f"running {requested} on this {platform.machine()} machine needs QEMU user emulation, and "
        f"binfmt_misc has no enabled qemu-{machine}: `bash scripts/engine start --config <matrix>` "
        "sets it up (qemu-user-static), or run this environment on a native machine"
    )
