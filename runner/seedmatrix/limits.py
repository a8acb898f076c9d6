"""What one repeat may use: time, memory, processes, scratch space, output. Shared by both backends;
and, once it ran, which of the limits it asked for were not enforced."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .results import Confinement

DEFAULT_MEMORY = "4g"  # each seed container's memory limit, swap included (--memory)
MEMORY_PATTERN = r"^[1-9][0-9]*[kmg]$"  # 512m, 4g: the units Docker takes (`memory_bytes`)


@dataclass(frozen=True, kw_only=True)
class Limits:
    timeout_seconds: int
    memory: str = DEFAULT_MEMORY
    pids: int = 512
    # Explicit rlimits, the same on every engine: Podman's defaults (nofile 1048576, nproc 4194304)
    # exceed the hard limits of hosts that deny raising them, and it then refuses every container
    # ("error setting rlimit type 7"); Docker passes on dockerd's own limits, which differ per host.
    open_files: int = 4096  # RLIMIT_NOFILE, soft and hard
    # RLIMIT_NPROC counts the threads of the user across the host, every container of the same uid
    # together (no user namespace): room for 32 containers at their pids limit, so a parallel run
    # never fails a fork that a lone one would not.
    user_processes: int = 16384
    tmp_mb: int = 64  # the /tmp tmpfs
    shm_mb: int = 64  # /dev/shm (the engine's default)
    outputs_mb: int = 256  # the outputs directory
    output_bytes: int = 4 << 20  # stdout kept from the start, stderr from the end
    records_bytes: int = 64 << 20  # the records file of one repeat

    @property
    def records_space(self) -> int:
        """The records file and the side files of packed arrays, whose bits are at most the
        outputs directory's size: the records limit follows `outputs_mb`."""
        return self.records_bytes + (self.outputs_mb << 20)


_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def memory_bytes(memory: str) -> int:
    """512m, 4g (config.Memory, the units Docker takes) in bytes."""
    return int(memory[:-1]) * _UNITS[memory[-1]]


#: `Unenforced.limit` of the CPUs (the one that marks a cell: a result may depend on the CPU count).
CPUS = "CPUs"


@dataclass(frozen=True, kw_only=True)
class Unenforced:
    """A limit a repeat asked for and did not get, or that could not be read back."""

    limit: str  # "CPUs", "memory" or "processes"
    text: str


#: A repeat whose launcher read nothing back.
NOT_READ_BACK = (
    Unenforced(limit=CPUS, text="CPUs not checked (not read back)"),
    Unenforced(limit="memory", text="memory limit not checked (not read back)"),
)


def not_enforced(confinement: Confinement) -> tuple[Unenforced, ...]:
    """What a repeat asked for and did not get, from what its launcher read back; a limit that could
    not be read back is "not checked", never taken as enforced. A stricter limit than asked (an
    enclosing cgroup's) is enforced: the repeat never had more than it asked for."""
    found = []
    available = confinement.cpus_available
    requested = confinement.cpus_requested
    if available is None:
        found.append(Unenforced(limit=CPUS, text=f"CPUs not checked ({requested} requested)"))
    elif available > requested:
        text = f"{requested} CPU{'s' if requested > 1 else ''} requested, {available} available"
        found.append(Unenforced(limit=CPUS, text=text))
    memory = confinement.memory_requested
    if confinement.memory_cgroup is None:
        found.append(Unenforced(limit="memory", text=f"memory limit not checked ({memory} requested)"))
    elif confinement.memory_limit is None:
        text = f"memory limit not enforced ({memory} requested, no limit applied)"
        found.append(Unenforced(limit="memory", text=text))
    elif confinement.memory_limit > memory_bytes(memory):
        applied = f"{Decimal(confinement.memory_limit) / (1 << 30):.1f} GiB"  # any int: no float overflow
        text = f"memory limit not enforced ({memory} requested, {applied} applied)"
        found.append(Unenforced(limit="memory", text=text))
    return (*found, *_processes_not_enforced(confinement))


def _processes_not_enforced(confinement: Confinement) -> tuple[Unenforced, ...]:
    pids = confinement.pids_requested
    if pids is None:  # none asked for (a host process), or results from before it was read back
        return ()
    if confinement.pids_cgroup is None:
        text = f"process limit not checked ({pids} requested)"
    elif confinement.pids_limit is None:
        text = f"process limit not enforced ({pids} requested, no limit applied)"
    elif confinement.pids_limit > pids:
        text = f"process limit not enforced ({pids} requested, {confinement.pids_limit} applied)"
    else:
        return ()
    return (Unenforced(limit="processes", text=text),)
