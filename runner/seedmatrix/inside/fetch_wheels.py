"""Make wheels for an environment, into a directory the host keeps between builds.

Run by seedmatrix in a container of the environment's base image (so the wheels fit its Python
and platform), with the network and, when the host needs one, an extra CA bundle in PIP_CERT.
The image build then installs from these wheels alone, served to it on a network that reaches
nothing else, with no CA bundle.

usage: python3 fetch_wheels.py OUTPUT_DIR PLAN_JSON

The plan names requirement files (each fetched with its own `pip wheel`, so one with --hash
options is checked in pip's hash-checking mode) and local projects (each copied, then built into a
wheel without its dependencies). projects.txt in OUTPUT_DIR lists the projects as name==version.
"""

import json
import os
import shutil
import subprocess
import sys
import venv

PIP = [
    "/tmp/fetch/bin/python",
    "-m",
    "pip",
    "wheel",
    "--disable-pip-version-check",
    "--no-input",
    "--no-cache-dir",
]

output, plan_file = sys.argv[1], sys.argv[2]
with open(plan_file) as stream:
    plan = json.load(stream)
venv.create("/tmp/fetch", with_pip=True)
for requirements in plan["requirements"]:
    subprocess.run([*PIP, "--wheel-dir", output, "--requirement", requirements], check=True)
projects = []
for index, source in enumerate(plan["projects"]):
    copy = f"/tmp/project-{index}"
    shutil.copytree(source, copy)  # a build may write into its tree; the mount is read-only
    built = f"/tmp/built-{index}"
    subprocess.run([*PIP, "--no-deps", "--wheel-dir", built, copy], check=True)
    for name in sorted(os.listdir(built)):
        shutil.move(f"{built}/{name}", f"{output}/{name}")
        distribution, version = name.split("-")[:2]
        projects.append(f"{distribution}=={version}\n")
with open(f"{output}/projects.txt", "w") as stream:
    stream.writelines(projects)
