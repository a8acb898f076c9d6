"""Article case 2: NumPy's global RandomState, seeded twice in one run.

As in the article: `np.random.seed(0)`, then `np.random.rand(3)` three times (1-3: three arrays
of three values); seed again and three more (4-6). Claims: 4-6 equal 1-3, every run prints the
same, and the article's printed values.
"""

import numpy as np

from recording import show

np.random.seed(0)
for label in ("1", "2", "3"):
    show(label, np.random.rand(3))

np.random.seed(0)
for label in ("4", "5", "6"):
    show(label, np.random.rand(3))
