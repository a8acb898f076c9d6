"""What one repeat may use: time, memory, processes, scratch space, output. Shared by both backends."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MEMORY = "4g"  # each seed container's memory limit, swap included (--memory)


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
