"""NumPy: the legacy global `RandomState` stream next to `np.random.default_rng` (PCG64).

Claims: both repeat in every run; they are different streams for the same seed; the legacy stream
is the same in every NumPy version (NEP 19 froze it).
"""

import numpy as np

from recording import show

show("RandomState(0)", np.random.RandomState(0).random_sample(3))
show("default_rng(0)", np.random.default_rng(0).random(3))
show("default_rng(0) integers", np.random.default_rng(0).integers(0, 1000, size=3))
