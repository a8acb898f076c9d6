"""PyTorch: `torch.manual_seed(0)` then `torch.randn(3)` on the CPU and on CUDA.

The CPU generator is mt19937, the CUDA one Philox (PyTorch's "Reproducibility" notes): the same
seed gives other numbers on the two devices, by design. Claims: each repeats every run; re-seeding
replays the CPU stream; on a GPU, CUDA's numbers differ from the CPU's.
"""

import torch

from recording import show

torch.manual_seed(0)
show("cpu randn", torch.randn(3))
torch.manual_seed(0)
show("cpu randn after re-seeding", torch.randn(3))
if torch.cuda.is_available():
    torch.manual_seed(0)
    show("cuda randn", torch.randn(3, device="cuda").cpu())
else:
    print("cuda randn: skipped, no CUDA device visible")
