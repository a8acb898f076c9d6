"""Article case 4: graph-level seed set BEFORE the new graph exists, so it lands elsewhere.

`set_random_seed` applies to the current default graph; `tf.Graph().as_default()` then makes a
fresh graph with no seed. Claim: op2 (op-level seed) is the same in every run; op1 differs in
every run.
"""

import tensorflow as tf

from recording import show

tf.compat.v1.set_random_seed(0)

with tf.Graph().as_default():
    op1 = tf.compat.v1.random_normal([3])
    op2 = tf.compat.v1.random_normal([3], seed=1)

    with tf.compat.v1.Session() as session:
        show("op1-1", session.run(op1))
        show("op1-2", session.run(op1))
        show("op2-1", session.run(op2))
        show("op2-2", session.run(op2))
