"""A two-layer Keras classifier, built and trained from one seed."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def train(
    train_x: np.ndarray, train_y: np.ndarray, *, seed: int, epochs: int
) -> tuple[tf.keras.Model, list[float]]:
    """The model after `epochs` of SGD on shuffled batches, and its loss after each epoch."""
    tf.keras.utils.set_random_seed(seed)  # Python's random, NumPy and TensorFlow at once
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(4,)),
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=tf.keras.optimizers.SGD(learning_rate=0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(train_x, train_y, epochs=epochs, batch_size=16, shuffle=True, verbose=0)
    return model, [float(loss) for loss in history.history["loss"]]
