"""JAX: float32 `segment_sum` with repeated ids, on the default device.

On a GPU the scatter-add may use atomics and vary from run to run; XLA_FLAGS with
--xla_gpu_deterministic_ops=true (the second case) makes it deterministic. On a CPU it is stable.
"""

import jax
import jax.numpy as jnp
import numpy as np

from recording import show, timed

rng = np.random.RandomState(0)  # inputs from the frozen legacy stream: only the sum can vary
values = jnp.asarray(rng.standard_normal(1 << 20).astype(np.float32))
ids = jnp.asarray(rng.randint(0, 64, size=1 << 20).astype(np.int32))
print("device:", jax.devices()[0])
show("segment_sum (first 8 of 64)", jax.ops.segment_sum(values, ids, num_segments=64)[:8])
# What the switch costs: the same sum again, warm, waited for (the first one above includes compiling).
with timed():
    for _ in range(50):
        total = jax.ops.segment_sum(values, ids, num_segments=64)
    total.block_until_ready()
