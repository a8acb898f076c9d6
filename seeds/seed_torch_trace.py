"""PyTorch: one traced training step of a small classifier, on CUDA when visible, else on the CPU.

Each module's output (forward hooks), the loss and each parameter's gradient are recorded in the
order they are computed. The labels do not name the device, so an environment with the GPU visible
is compared label by label with one where it is hidden, and the matrix names the layer where the
two devices part.

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

device = "cuda" if torch.cuda.is_available() else "cpu"
print("device:", device)
trace_torch(copy.deepcopy(model).to(device), features.to(device), classes.to(device), loss_fn)
