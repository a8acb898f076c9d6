"""TensorFlow 2: stateless random ops and `tf.random.Generator`, which need no global seed.

Claims: `stateless_normal` with the same seed pair gives the same values every call and every run;
a Generator made `from_seed` gives new values on each call but the same sequence every run, and a
second Generator from the same seed replays it.
"""

import tensorflow as tf

from recording import show

show("stateless [1, 2], call 1", tf.random.stateless_normal([3], seed=[1, 2]))
show("stateless [1, 2], call 2", tf.random.stateless_normal([3], seed=[1, 2]))

generator = tf.random.Generator.from_seed(0)
show("generator, call 1", generator.normal([3]))
show("generator, call 2", generator.normal([3]))
show("generator ints", generator.uniform([3], maxval=1000, dtype=tf.int64))

replay = tf.random.Generator.from_seed(0)
show("new generator, call 1", replay.normal([3]))
