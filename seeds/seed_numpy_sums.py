"""NumPy float32 reductions over seeded data: do the sums survive a NumPy upgrade?

The data come from the frozen legacy stream, so only the summation can change the results.
Claim: every run prints the same.
"""

import numpy as np

from recording import show

values = np.random.RandomState(0).standard_normal(1 << 22).astype(np.float32)
show("float32 sum", values.sum())
show("float32 mean", values.mean())
show("float32 dot", np.dot(values[:4096], values[4096:8192]))
show("float64 sum", values.astype(np.float64).sum())
