"""CuPy: its seeded random stream next to NumPy's with the same seed, and a float32 atomic sum.

CuPy documents that `cupy.random.seed` seeds its own generator (cuRAND), not NumPy's, so the same
seed gives other numbers; an atomic reduction on a GPU may add in another order each run.
Claims: the seeded stream repeats every run and differs from NumPy's; NumPy's repeats too. Skips
itself where CuPy or a GPU is absent.
"""

import numpy as np

from recording import show, skip

try:
    import cupy
except ImportError:
    skip("CuPy is not installed in this interpreter")
try:
    gpus = cupy.cuda.runtime.getDeviceCount()
except cupy.cuda.runtime.CUDARuntimeError as error:
    skip(f"CuPy sees no GPU ({error})")
if gpus == 0:
    skip("CuPy sees no GPU")

cupy.random.seed(0)
show("cupy.random.seed(0), rand(4)", cupy.asnumpy(cupy.random.rand(4)))
np.random.seed(0)
show("numpy.random.seed(0), rand(4)", np.random.rand(4))

values = cupy.random.default_rng(1).standard_normal(1 << 20, dtype=cupy.float32)
total = cupy.zeros(1, dtype=cupy.float32)
add = cupy.ElementwiseKernel("float32 x", "raw float32 total", "atomicAdd(&total[0], x)", "atomic_sum")
add(values, total)
show("atomicAdd sum of 2^20 float32", cupy.asnumpy(total))
show("cupy.sum of the same values", cupy.asnumpy(values.sum(keepdims=True)))
