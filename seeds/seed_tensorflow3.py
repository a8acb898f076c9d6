"""Article case 5: graph-level seed set AFTER the ops were created, so they never see it.

Ops take their seeds when they are created. Claim: op2 (op-level seed) is the same in every run;
op1 differs in every run.
"""

import tensorflow as tf

from recording import show

with tf.Graph().as_default():
    op1 = tf.compat.v1.random_normal([3])
    op2 = tf.compat.v1.random_normal([3], seed=1)
    tf.compat.v1.set_random_seed(0)

    with tf.compat.v1.Session() as session:
        show("op1-1", session.run(op1))
        show("op1-2", session.run(op1))
        show("op2-1", session.run(op2))
        show("op2-2", session.run(op2))
