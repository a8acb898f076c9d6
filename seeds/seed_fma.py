"""Products and sums where a compiler may fuse a*b+c into one rounding (an FMA): aarch64's GCC
contracts by default, x86-64's baseline has no FMA to contract into.

Each value is computed from the same float32 data (the frozen legacy stream), so only the
arithmetic can differ between machines. The first is the control: two ufunc calls, two roundings,
nothing to fuse anywhere.
"""

import numpy as np

from recording import show

data = np.random.RandomState(0).standard_normal((3, 1 << 16)).astype(np.float32)
a, b, c = data
show("a*b+c, two ufuncs", a * b + c)
complex_a = (a[: 1 << 15] + 1j * a[1 << 15 :]).astype(np.complex64)
complex_b = (b[: 1 << 15] + 1j * b[1 << 15 :]).astype(np.complex64)
show("complex64 product", complex_a * complex_b)
show("float32 dot", np.dot(a, b))
show("float32 cross", np.cross(data[:, :3000].T, data[::-1, :3000].T))
show("float32 matmul 64x64", a[:4096].reshape(64, 64) @ b[:4096].reshape(64, 64))
