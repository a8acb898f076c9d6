"""The iris data (Fisher, 1936; the copy scikit-learn ships), split and scaled with scikit-learn."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def load(path: Path, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test features (scaled on the training part) and labels; the split is seeded."""
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    features = np.array([[float(row[key]) for key in list(row)[:4]] for row in rows], dtype=np.float32)
    labels = np.array([int(row["species"]) for row in rows], dtype=np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=0.2, random_state=seed, stratify=labels
    )
    scaler = StandardScaler().fit(train_x)
    return (
        scaler.transform(train_x).astype(np.float32),
        scaler.transform(test_x).astype(np.float32),
        train_y,
        test_y,
    )
