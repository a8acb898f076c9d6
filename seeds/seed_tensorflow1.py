"""Article case 3: graph-level seed set inside the new graph, before the ops are created.

As in the article (graph mode through `tf.compat.v1`): in a new graph, graph seed 0, op1 without
an op seed, op2 with `seed=1`; two sessions each run op1 twice and op2 twice. Claims: session 2
repeats session 1, every run prints the same, and the article's printed values.
"""

import tensorflow as tf

from recording import show

with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    op1 = tf.compat.v1.random_normal([3])
    op2 = tf.compat.v1.random_normal([3], seed=1)

    for session_name in ("session1", "session2"):
        print(session_name)
        with tf.compat.v1.Session() as session:
            show(f"{session_name} op1-1", session.run(op1))
            show(f"{session_name} op1-2", session.run(op1))
            show(f"{session_name} op2-1", session.run(op2))
            show(f"{session_name} op2-2", session.run(op2))
