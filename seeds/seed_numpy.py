"""Article case 2: NumPy's global RandomState, seeded twice in one run.

Claim: values 4-6 equal values 1-3, and every run prints the same.
"""

import numpy as np

from recording import show

np.random.seed(0)
for label, value in zip(("1", "2", "3"), np.random.rand(3)):
    show(f"Random number {label}", value)

np.random.seed(0)
for label, value in zip(("4", "5", "6"), np.random.rand(3)):
    show(f"Random number {label}", value)
