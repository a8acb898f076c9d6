"""TensorFlow 2 eager: the global seed `tf.random.set_seed`, with and without op seeds.

Claims: every run prints the same; a second call of the same op in one program gives new values;
resetting the global seed replays the first call.
"""

import tensorflow as tf

from recording import show

tf.random.set_seed(0)
show("no op seed, call 1", tf.random.normal([3]))
show("no op seed, call 2", tf.random.normal([3]))
show("op seed 1, call 1", tf.random.normal([3], seed=1))
show("op seed 1, call 2", tf.random.normal([3], seed=1))

tf.random.set_seed(0)
show("after set_seed again, call 1", tf.random.normal([3]))
