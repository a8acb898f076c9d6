"""`seedmatrix init`: a starting matrix.yaml for a project, with a comment on every key.

Environments come from the project's declared dependencies: an exact pin (`==`) is used as it is;
otherwise the version this interpreter has installed is offered (with a note to check it), and a
dependency nothing pins is left for the user to pin. The result always loads: what is unknown is
a comment, never a guess written as a value.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from .config import DEBIAN_PYTHON, matrix_schema
from .errors import ConfigError
from .files import MIB, read_text_bounded

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")
#: Distributions that are frameworks of their own key in an environment.
_FRAMEWORK_KEYS = {
    "numpy": "numpy",
    "tensorflow": "tensorflow",
    "tensorflow-cpu": "tensorflow",
    "torch": "torch",
    "jax": "jax",
}


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def starter(
    project: Path,
    scripts: Sequence[Path],
    *,
    python: str,
    installed: Callable[[str], str | None] = installed_version,
) -> str:
    """The text of a starting matrix.yaml for `project` (whose pyproject.toml, if any, is read)."""
    dependencies = _dependencies(project)
    lines = [
        "# yaml-language-server: $schema=matrix.schema.json",
        "# A starting matrix for this project, written by `seedmatrix init`. Every key is explained in",
        "# docs/configuration.md of seedmatrix; `seedmatrix schema matrix` prints the schema editors use.",
        "repeats: 3             # runs per (environment, case), each a fresh container and process",
        "timeout_seconds: 600   # per run",
        "",
        "environments:",
        f"  - name: py{python}",
    ]
    suite = next((name for name, version in DEBIAN_PYTHON.items() if version == python), None)
    if suite is not None:
        lines.append(
            f"    debian: {suite}          # a base image made from Debian's archive (Python {python})"
        )
    else:
        lines.append(f"    base_image: python:{python}-slim   # a registry image with Python {python}")
    lines.append(f'    python: "{python}"')
    packages: list[str] = []
    for name, specifier in dependencies:
        pin, note = _pin(name, specifier, installed)
        key = _FRAMEWORK_KEYS.get(name.lower())
        if key is not None and pin is not None:
            lines.append(f'    {key}: "{pin}"{note}')
            if name.lower() == "tensorflow":
                lines.append(
                    "    tensorflow_package: tensorflow   # the full package (default: tensorflow-cpu)"
                )
        elif key is not None:
            lines.append(f'    # {key}: "…"   TODO: pin an exact version ({name}{specifier or ""}){note}')
        elif pin is not None:
            packages.append(f"      - {name}=={pin}{note}")
        else:
            packages.append(f"      # - {name}==…   TODO: pin an exact version ({name}{specifier or ''})")
    if any(not line.lstrip().startswith("#") for line in packages):
        lines += ["    packages:            # more exact pins", *packages]
    elif packages:
        lines += ["    # packages:          # more exact pins", *packages]
    if (project / "pyproject.toml").is_file() or (project / "setup.py").is_file():
        lines.append(
            "    install: .           # this project, built into a wheel and installed into the image"
        )
    lines += ["", "cases:"]
    for script in scripts or [Path("train.py")]:
        lines += [
            f"  - name: {_case_name(script)}",
            f"    script: {script.as_posix()}   # relative to this file; its directory is mounted read-only",
            "    # args: [--epochs, '3']            # command-line arguments",
            "    # data: {data/train.csv: /data/train.csv}   # read-only mounts: here → in the container",
            "    # outputs: [model.weights.h5, metrics.json]  # written into $SEEDMATRIX_OUTPUTS; compared",
            "    claims:                            # what you expect; a claim that fails is a SURPRISE",
            '      stable: ["*"]                    # every recorded value bitwise identical in every run',
        ]
    return "\n".join(lines) + "\n"


def _dependencies(project: Path) -> list[tuple[str, str]]:
    path = project / "pyproject.toml"
    if not path.is_file():
        return []
    try:
        document = tomllib.loads(read_text_bounded(path, limit=MIB, what="pyproject.toml", error=ConfigError))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    found = []
    for requirement in document.get("project", {}).get("dependencies", []):
        match = _NAME.match(str(requirement).split(";")[0])
        if match:
            found.append((match.group(1), match.group(3).strip()))
    return found


def _pin(name: str, specifier: str, installed: Callable[[str], str | None]) -> tuple[str | None, str]:
    exact = re.fullmatch(r"==\s*([0-9][0-9A-Za-z.!+_-]*)", specifier)
    if exact:
        return exact.group(1), ""
    version = installed(name)
    if version is None:
        return None, ""
    wanted = f" (the project asks for {specifier})" if specifier else ""
    return version, f"   # installed here{wanted}: check it is the one you want"


def _case_name(script: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", script.stem) or "case"


def write_starter(project: Path, scripts: Sequence[Path], *, python: str, force: bool) -> Path:
    """matrix.yaml (and matrix.schema.json beside it, for editors) in `project`."""
    target = project / "matrix.yaml"
    if target.exists() and not force:
        raise ConfigError(f"{target} exists; give --force to replace it")
    for script in scripts:
        if not (project / script).is_file():
            raise ConfigError(f"--script: no such file: {project / script}")
    target.write_text(starter(project, scripts, python=python), encoding="utf-8")
    (project / "matrix.schema.json").write_text(
        json.dumps(matrix_schema(), indent=2) + "\n", encoding="utf-8"
    )
    return target
