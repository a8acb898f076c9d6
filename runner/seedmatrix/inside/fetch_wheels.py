"""Make wheels for an environment's pins, into a directory the host keeps between builds.

Run by seedmatrix in a container of the environment's base image (so the wheels fit its Python
and platform), with the network and, when the host needs one, an extra CA bundle in PIP_CERT.
The image build then installs from these wheels alone, with no network and no CA bundle.

usage: python3 fetch_wheels.py OUTPUT_DIR REQUIREMENTS_FILE
"""

import subprocess
import sys
import venv

output, requirements = sys.argv[1], sys.argv[2]
venv.create("/tmp/fetch", with_pip=True)
subprocess.run(
    [
        "/tmp/fetch/bin/python",
        "-m",
        "pip",
        "wheel",
        "--disable-pip-version-check",
        "--no-input",
        "--no-cache-dir",
        "--wheel-dir",
        output,
        "--requirement",
        requirements,
    ],
    check=True,
)
