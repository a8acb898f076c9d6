"""The same C source compiled twice, with the compiler's default and with -ffp-contract=off: does
fusing `a*b + c` into one FMA (one rounding instead of two) alone change the numbers?

Clang (here Zig's, from the `ziglang` wheel, so no system compiler is needed) contracts `a*b + c`
within an expression by default. For the baseline CPU of each architecture, aarch64 has an FMA
instruction to contract into and x86-64 has none, so on x86-64 the two builds compute the same and
on aarch64 they need not. With contraction off, every operation rounds by itself on both, and the
results must be bitwise equal across architectures: then a difference in the default build is the
contraction, nothing else. Neither build may reorder a sum (no -ffast-math), so the float32 dot is
added in index order by both.

The data come from NumPy's frozen legacy stream. The environment needs `ziglang` (a `packages:`
pin); without it the case is skipped, with the reason.
"""

import ctypes
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

from recording import show, skip

KERNELS = """
void muladd(const double *a, const double *b, const double *c, double *out, long n) {
  for (long i = 0; i < n; i++) out[i] = a[i] * b[i] + c[i];
}
void horner(const double *coef, long ncoef, const double *x, double *out, long n) {
  for (long i = 0; i < n; i++) {
    double acc = coef[0];
    for (long k = 1; k < ncoef; k++) acc = acc * x[i] + coef[k];
    out[i] = acc;
  }
}
float dot32(const float *a, const float *b, long n) {
  float s = 0.0f;
  for (long i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}
"""
# (label, file name, C flags)
BUILDS = (("compiler default", "default", []), ("-ffp-contract=off", "contract-off", ["-ffp-contract=off"]))


def build(workdir, name, cflags):
    """A shared library of KERNELS for this machine's baseline CPU (no CPU-specific features)."""
    source = workdir / "kernels.c"
    source.write_text(KERNELS)
    library = workdir / f"{name}.so"
    cache = str(workdir / "zig-cache")
    command = [sys.executable, "-m", "ziglang", "build-lib", "-dynamic", "-O", "ReleaseFast"]
    command += ["-fno-compiler-rt", "-mcpu=baseline", f"-femit-bin={library}"]
    command += ["-cflags", *cflags, "--", str(source)]
    env = dict(os.environ, ZIG_GLOBAL_CACHE_DIR=cache, ZIG_LOCAL_CACHE_DIR=cache)
    subprocess.run(command, check=True, cwd=workdir, env=env)
    kernels = ctypes.CDLL(str(library))
    double_array = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    float_array = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
    kernels.muladd.argtypes = [double_array] * 4 + [ctypes.c_long]
    kernels.horner.argtypes = [double_array, ctypes.c_long, double_array, double_array, ctypes.c_long]
    kernels.dot32.argtypes = [float_array, float_array, ctypes.c_long]
    kernels.dot32.restype = ctypes.c_float
    return kernels


try:
    import ziglang  # noqa: F401  (only its presence: it is run as `python -m ziglang`)
except ImportError:
    skip("no ziglang in this environment: pin it in the environment's packages to compile the kernels")

stream = np.random.RandomState(0)
a, b, c = stream.standard_normal((3, 1 << 12))
coefficients = stream.standard_normal(9)
x = stream.uniform(-1.5, 1.5, 1 << 12)
a32, b32 = stream.standard_normal((2, 1 << 14)).astype(np.float32)

with tempfile.TemporaryDirectory() as workdir:
    for build_name, file_name, cflags in BUILDS:
        kernels = build(pathlib.Path(workdir), file_name, cflags)
        out = np.empty_like(a)
        kernels.muladd(a, b, c, out, a.size)
        show(f"a*b+c float64 ({build_name})", out)
        out = np.empty_like(x)
        kernels.horner(coefficients, coefficients.size, x, out, x.size)
        show(f"degree-8 Horner float64 ({build_name})", out)
        show(f"float32 dot in order ({build_name})", np.float32(kernels.dot32(a32, b32, a32.size)))
