"""Article case 1: Python's `random` module, seeded twice in one run.

Claim: values 4-6 equal values 1-3, and every run prints the same.
"""

import random

from recording import show

random.seed(0)
for label in ("1", "2", "3"):
    show(f"Random number {label}", random.random())

random.seed(0)
for label in ("4", "5", "6"):
    show(f"Random number {label}", random.random())
