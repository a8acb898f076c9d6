"""TensorFlow ops documented as nondeterministic on GPUs, on seeded inputs.

Run as two cases: as is, and with OP_DETERMINISM=1, which calls
`tf.config.experimental.enable_op_determinism()` first. On a GPU the first should vary from run to
run (atomics in segment sums and in the bias-add and convolution gradients; see shared facts in the
README) and the second should not; on a CPU both are stable. A plain float32 reduce_sum has been
run-to-run deterministic on one GPU since TF 1.4, but may differ from the CPU in the last bits.
"""

import os

import numpy as np
import tensorflow as tf

from recording import show

if os.environ.get("OP_DETERMINISM") == "1":
    tf.config.experimental.enable_op_determinism()
print("op determinism:", "on" if os.environ.get("OP_DETERMINISM") == "1" else "off")

rng = np.random.RandomState(0)  # inputs from the frozen legacy stream: only the ops can vary
data = tf.constant(rng.standard_normal(1 << 20).astype(np.float32))
ids = tf.constant(rng.randint(0, 64, size=1 << 20).astype(np.int32))
show("unsorted_segment_sum (first 8 of 64)", tf.math.unsorted_segment_sum(data, ids, num_segments=64)[:8])
show("reduce_sum", tf.reduce_sum(data))

inputs = tf.constant(rng.standard_normal((4096, 256)).astype(np.float32))
bias = tf.Variable(tf.zeros([256]))
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(tf.nn.bias_add(inputs, bias)))
show("bias_add gradient (first 8 of 256)", tape.gradient(loss, bias)[:8])

images = tf.constant(rng.standard_normal((16, 32, 32, 8)).astype(np.float32))
filters = tf.Variable(rng.standard_normal((3, 3, 8, 16)).astype(np.float32))
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(tf.nn.conv2d(images, filters, strides=1, padding="SAME")))
show("conv2d filter gradient (first 8)", tf.reshape(tape.gradient(loss, filters), [-1])[:8])
