"""A tiny Keras model seeded with `tf.keras.utils.set_random_seed`, shared by two seed cases."""

import numpy as np
import tensorflow as tf

from recording import show


def train_and_show(op_determinism):
    tf.keras.utils.set_random_seed(0)  # seeds Python's random, NumPy and TensorFlow at once
    if op_determinism:
        tf.config.experimental.enable_op_determinism()
    model = tf.keras.Sequential(
        [tf.keras.Input(shape=(4,)), tf.keras.layers.Dense(8, activation="relu"), tf.keras.layers.Dense(1)]
    )
    show("initial kernel (first layer, row 0)", model.layers[0].kernel.numpy()[0])
    x = np.linspace(-1.0, 1.0, 64 * 4, dtype=np.float32).reshape(64, 4)
    y = np.sin(x.sum(axis=1, keepdims=True)).astype(np.float32)
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=16, shuffle=True, verbose=0)
    show("loss after each epoch", np.array(history.history["loss"], dtype=np.float32))
    show("trained kernel (first layer, row 0)", model.layers[0].kernel.numpy()[0])
