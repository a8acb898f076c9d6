"""TensorFlow 2 eager without a global seed: only some ops carry an op-level seed.

TensorFlow's documented rule: with no global seed, an op seed is combined with a default global
seed, so the op repeats from run to run; an op with no seed at all does not. Claims: the op-seeded
value is the same in every run; the unseeded one differs in every run.
"""

import tensorflow as tf

from recording import show

show("unseeded", tf.random.uniform([3]))
show("op seed 7", tf.random.uniform([3], seed=7))
