"""PyTorch: a tiny model's initial weights, and its loss after a few steps on the CPU and on CUDA.

Claims: every value repeats every run; the same seeded model trained on CUDA ends within a few
ULP of the CPU, not necessarily bitwise (another summation order).
"""

import copy

import torch

from recording import show

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
show("initial weight, row 0", model[0].weight[0].detach())
inputs = torch.linspace(-1.0, 1.0, 256).reshape(64, 4)
targets = torch.sin(inputs.sum(dim=1, keepdim=True))


def loss_after_training(device):
    trained = copy.deepcopy(model).to(device)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.1)
    x, y = inputs.to(device), targets.to(device)
    for _ in range(20):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(trained(x), y)
        loss.backward()
        optimizer.step()
    return loss.detach().cpu().reshape(1)


show("loss after 20 steps, cpu", loss_after_training("cpu"))
if torch.cuda.is_available():
    show("loss after 20 steps, cuda", loss_after_training("cuda"))
else:
    print("cuda training: skipped, no CUDA device visible")
