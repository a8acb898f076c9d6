"""PyTorch: float32 `index_add_` and `scatter_add_` with repeated indices, on CUDA when visible.

On CUDA these use atomics and vary from run to run, unless `torch.use_deterministic_algorithms(True)`
(the case with DETERMINISTIC=1; CUBLAS_WORKSPACE_CONFIG is set by the case too). On a CPU both are
stable.
"""

import os

import torch

from recording import show, timed

if os.environ.get("DETERMINISTIC") == "1":
    torch.use_deterministic_algorithms(True)
device = "cuda" if torch.cuda.is_available() else "cpu"
print("device:", device, "| deterministic algorithms:", torch.are_deterministic_algorithms_enabled())

generator = torch.Generator().manual_seed(0)  # inputs made on the CPU: only the sums can vary
values = torch.randn(1 << 20, generator=generator).to(device)
index = torch.randint(0, 64, (1 << 20,), generator=generator).to(device)


def index_add():
    return torch.zeros(64, device=device).index_add_(0, index, values)


def scatter_add():
    return torch.zeros(64, device=device).scatter_add_(0, index, values)


show("index_add_ (first 8 of 64)", index_add()[:8].cpu())
show("scatter_add_ (first 8 of 64)", scatter_add()[:8].cpu())
# What the switch costs: the same sums again, warm, waited for (the first ones above include set-up).
with timed():
    for _ in range(50):
        index_add()
        scatter_add()
    if device == "cuda":
        torch.cuda.synchronize()
