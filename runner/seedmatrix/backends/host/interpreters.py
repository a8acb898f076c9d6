"""Host interpreters (the host backend): what an interpreter on this machine really has.

seedmatrix installs nothing there: the interpreter is probed, and the pins of matrix.yaml are
checked against what it has. Its identity (the interpreter and a digest of its `pip freeze`)
changes when its packages change, so reused records never outlive an upgrade.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...config import Environment
from ...errors import ImageError
from ...fingerprint import digest
from ...results import Build, BuildStatus, Observed
from ..docker.images import check_python
from ..docker.probes import probe_interpreter
from .hostrun import interpreter


def host_build(environment: Environment, *, matrix_dir: Path, timeout_seconds: int) -> Build:
    """Probe a host interpreter: the versions it really has, checked against the pins."""
    assert environment.host_python is not None
    started = time.monotonic()
    python = interpreter(environment.host_python, relative_to=matrix_dir)
    try:
        observed = probe_interpreter(python, what=environment.name, timeout_seconds=timeout_seconds)
        check_python(environment, observed)
        check_pins(environment, observed)
    except ImageError as error:
        return Build(
            status=BuildStatus.FAILED, seconds=round(time.monotonic() - started, 2), error=str(error)
        )
    return Build(
        status=BuildStatus.HOST,
        seconds=round(time.monotonic() - started, 2),
        tag=f"host:{python}",
        identity=f"host:{python}#{digest(chr(10).join(observed.pip_freeze))}",
        observed=observed,
    )


def check_pins(environment: Environment, observed: Observed) -> None:
    """A host interpreter's packages are not installed by seedmatrix: they must match the pins."""
    for name, pin in environment.pins.items():
        found = observed.version(name)
        version = found.split()[-1] if found else None  # TensorFlow's says which distribution
        if pin and version != pin:
            raise ImageError(
                f"{environment.name}: matrix.yaml pins {name} {pin} but {environment.host_python} has "
                f"{version or 'none'}"
            )
