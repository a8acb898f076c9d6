"""Article case 1: Python's `random` module, seeded twice in one run.

As in the article: seed 0, print three `random.random()` (1-3); seed 0 again, print three more
(4-6). Claims: 4-6 equal 1-3, every run prints the same, and the article's printed values.
"""

import random

from recording import show

random.seed(0)
for label in ("1", "2", "3"):
    show(label, random.random())

random.seed(0)
for label in ("4", "5", "6"):
    show(label, random.random())
