"""A float32 reduction in TensorFlow and in NumPy, on however many CPUs the container was given.

The same script runs as two cases, on one CPU and on two; TensorFlow's and OpenBLAS's thread pools
size themselves from the CPUs they see. Claim: the sums do not depend on the CPU count.
"""

import os

import numpy as np
import tensorflow as tf

from recording import show

print("CPUs visible:", len(os.sched_getaffinity(0)))
values = np.random.RandomState(0).standard_normal(1 << 22).astype(np.float32)
show("tf.reduce_sum", tf.reduce_sum(tf.constant(values)).numpy())
matrix = values[: 512 * 512].reshape(512, 512)
show("numpy matmul row 0 sum", np.float32((matrix @ matrix)[0].sum(dtype=np.float32)))
show("numpy float32 sum", values.sum())
