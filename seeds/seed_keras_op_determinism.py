"""Keras as in seed_keras, with `tf.config.experimental.enable_op_determinism()` switched on.

Claims: the same in every run, and the same values as without the switch (on a CPU the switch
has nothing to fix in these ops).
"""

from keras_model import train_and_show

train_and_show(op_determinism=True)
