"""Report what an image or interpreter really contains, as one JSON object on stdout.

Run by seedmatrix with the image's (or host interpreter's) own Python, so the report shows
observed versions, not the ones matrix.yaml asked for.

usage: python probe.py FRAMEWORKS_JSON   (framework → the distributions that provide it)
"""

import json
import platform
import subprocess
import sys
from importlib import metadata


def version_of(distributions):
    """The version of the first installed distribution; "<name> <version>" when several could be."""
    for name in distributions:
        try:
            found = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        return f"{name} {found}" if len(distributions) > 1 else found
    return None


frameworks = json.loads(sys.argv[1])
freeze = subprocess.run(
    [sys.executable, "-m", "pip", "freeze", "--all", "--disable-pip-version-check"],
    capture_output=True,
    text=True,
    check=False,
).stdout.split()

print(
    json.dumps(
        {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "frameworks": {name: version_of(distributions) for name, distributions in frameworks.items()},
            "pip_freeze": freeze,
        }
    )
)
