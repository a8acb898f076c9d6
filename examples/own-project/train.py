"""Train irisnet once: the loss per epoch, the test accuracy, a checkpoint and its metrics.

    python train.py --data data/iris.csv --out out/     (by hand)

Under seedmatrix the values also go to the records (`show`), and the checkpoint and metrics go to
$SEEDMATRIX_OUTPUTS, where the matrix compares them file by file.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from irisnet.data import load
from irisnet.model import train

try:
    from recording import show  # seedmatrix's recorder, on PYTHONPATH under seedmatrix
except ImportError:  # run by hand: print like it would

    def show(label: str, value: object) -> None:
        print(f"{label}: {value}")


parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--data", type=Path, required=True)
parser.add_argument("--out", type=Path, default=Path(os.environ.get("SEEDMATRIX_OUTPUTS", "out")))
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--seed", type=int, default=0)
arguments = parser.parse_args()

train_x, test_x, train_y, test_y = load(arguments.data, seed=arguments.seed)
model, losses = train(train_x, train_y, seed=arguments.seed, epochs=arguments.epochs)
for loss in losses:
    show("loss per epoch", loss)  # shown once per epoch: compared epoch by epoch
accuracy = float(model.evaluate(test_x, test_y, verbose=0)[1])
show("test accuracy", accuracy)
show("first layer kernel, row 0", model.layers[0].kernel.numpy()[0])

arguments.out.mkdir(parents=True, exist_ok=True)
model.save_weights(arguments.out / "model.weights.h5")
metrics = {"loss": losses, "accuracy": accuracy}
(arguments.out / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
