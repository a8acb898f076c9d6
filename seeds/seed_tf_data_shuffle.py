"""`tf.data` shuffle with an op seed, with and without `reshuffle_each_iteration`.

Claims: every run prints the same orders; with reshuffling, epoch 2 differs from epoch 1; without
it, epoch 2 repeats epoch 1.
"""

import numpy as np
import tensorflow as tf

from recording import show


def epochs(reshuffle):
    dataset = tf.data.Dataset.range(10).shuffle(10, seed=42, reshuffle_each_iteration=reshuffle)
    return [np.array(list(dataset.as_numpy_iterator())) for _ in range(2)]


first, second = epochs(reshuffle=True)
show("reshuffle, epoch 1", first)
show("reshuffle, epoch 2", second)
first, second = epochs(reshuffle=False)
show("no reshuffle, epoch 1", first)
show("no reshuffle, epoch 2", second)
