"""Keras: two traced training steps of a small classifier, seeded with `set_random_seed`.

Every layer's output, the loss and every gradient are recorded in the order they are computed, so
where two runs part, the matrix names the layer. The data come from a seeded NumPy generator. The
model is small on purpose: each run records about 23,000 numbers, exactly.

Claims: the whole trace repeats bit for bit, and is the same on two CPUs as on one.
"""

import numpy as np
import tensorflow as tf

from recording import show
from tracing import trace_keras

tf.keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
features = rng.standard_normal((128, 16)).astype(np.float32)
classes = rng.integers(0, 10, size=128)

model = tf.keras.Sequential(
    [
        tf.keras.Input(shape=(16,)),
        tf.keras.layers.Dense(32, activation="relu", name="dense_1"),
        tf.keras.layers.Dense(32, activation="relu", name="dense_2"),
        tf.keras.layers.Dense(10, name="logits"),
    ]
)
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
optimizer = tf.keras.optimizers.SGD(learning_rate=0.1)

for step in (1, 2):
    _, gradients = trace_keras(model, features, classes, loss_fn, prefix=f"step {step} ")
    optimizer.apply_gradients(zip(gradients, model.trainable_variables))
show("trained logits kernel, row 0", model.layers[-1].kernel.numpy()[0])
