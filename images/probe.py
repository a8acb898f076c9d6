"""Report what an image really contains, as one JSON object on stdout.

Run by seedmatrix inside each environment image with the image's own interpreter, so the
report shows observed versions, not the ones matrix.yaml asked for.
"""

import json
import platform
import subprocess
import sys
from importlib import metadata


def version_of(*distributions):
    for name in distributions:
        try:
            return f"{name} {metadata.version(name)}" if len(distributions) > 1 else metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


freeze = subprocess.run(
    [sys.executable, "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
    capture_output=True,
    text=True,
    check=True,
).stdout.split()

print(
    json.dumps(
        {
            "python": platform.python_version(),
            "numpy": version_of("numpy"),
            "tensorflow": version_of("tensorflow", "tensorflow-cpu"),
            "torch": version_of("torch"),
            "jax": version_of("jax"),
            "pip_freeze": freeze,
        }
    )
)
