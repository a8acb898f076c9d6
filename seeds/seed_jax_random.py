"""JAX: `jax.random.key(0)` samples on the CPU and, when visible, on a GPU.

JAX documents that random bits are identical across CPU, GPU and TPU; float samples are usually
identical, sometimes one ULP apart. Claims: every value repeats every run; on a GPU the bits equal
the CPU's.
"""

import jax

from recording import show

key = jax.random.key(0)
with jax.default_device(jax.devices("cpu")[0]):
    show("bits on cpu", jax.random.bits(key, (4,)))
    show("normal on cpu", jax.random.normal(key, (4,)))
gpus = [device for device in jax.devices() if device.platform == "gpu"]
if gpus:
    with jax.default_device(gpus[0]):
        show("bits on gpu", jax.random.bits(key, (4,)))
        show("normal on gpu", jax.random.normal(key, (4,)))
else:
    print("gpu samples: skipped, JAX sees no GPU")
