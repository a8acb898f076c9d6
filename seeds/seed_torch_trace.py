"""PyTorch: one traced training step of a small classifier on the CPU, and on CUDA when visible.

Each module's output (forward hooks), the loss and each parameter's gradient are recorded in the
order they are computed, so the matrix names the layer where two runs, or two devices, part.

Claims: the CPU trace repeats bit for bit.
"""

import copy

import torch

from tracing import trace_torch

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(16, 32),
    torch.nn.ReLU(),
    torch.nn.Linear(32, 32),
    torch.nn.ReLU(),
    torch.nn.Linear(32, 10),
)
features = torch.randn(128, 16)
classes = torch.randint(0, 10, (128,))
loss_fn = torch.nn.functional.cross_entropy

trace_torch(copy.deepcopy(model), features, classes, loss_fn, prefix="cpu ")
if torch.cuda.is_available():
    trace_torch(copy.deepcopy(model).cuda(), features.cuda(), classes.cuda(), loss_fn, prefix="cuda ")
else:
    print("cuda trace: skipped, no CUDA device visible")
