"""What one repeat may use: time, memory, processes, scratch space, output. Shared by both backends."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MEMORY = "4g"  # each seed container's memory limit, swap included (--memory)


@dataclass(frozen=True, kw_only=True)
class Limits:
    timeout_seconds: int
    memory: str = DEFAULT_MEMORY
    pids: int = 512
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
