"""Keras: `tf.keras.utils.set_random_seed(0)`, initial weights and the loss after a few epochs.

Claims: initial weights, losses and trained weights are the same in every run (on a CPU).
"""

from keras_model import train_and_show

train_and_show(op_determinism=False)
