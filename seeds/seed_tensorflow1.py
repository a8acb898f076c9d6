"""Article case 3: graph-level seed set inside the new graph, before the ops are created.

Claim: session 2 repeats session 1, and every run prints the same.
"""

import tensorflow as tf

from recording import show

with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    op1 = tf.compat.v1.random_normal([3])
    op2 = tf.compat.v1.random_normal([3], seed=1)

    with tf.compat.v1.Session() as session:
        show("Session 1 op1-1", session.run(op1))
        show("Session 1 op1-2", session.run(op1))
        show("Session 1 op2-1", session.run(op2))
        show("Session 1 op2-2", session.run(op2))

    with tf.compat.v1.Session() as session:
        show("Session 2 op1-1", session.run(op1))
        show("Session 2 op1-2", session.run(op1))
        show("Session 2 op2-1", session.run(op2))
        show("Session 2 op2-2", session.run(op2))
