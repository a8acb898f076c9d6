"""The seam between the jobs and the backends: which backend an environment goes to, what each can
give its cells, and that nothing outside `backends/` talks to an engine."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from seedmatrix.backends import placement
from seedmatrix.backends.docker.forecast import forecast
from seedmatrix.backends.docker.wheels import Fetching, WheelPlan
from seedmatrix.backends.host.backend import HostBackend
from seedmatrix.config import Environment, Slurm, load_matrix

PACKAGE = Path(__file__).resolve().parent.parent / "runner" / "seedmatrix"


def test_only_the_backends_import_an_engine_client() -> None:
    outside = [
        path for path in PACKAGE.rglob("*.py") if "backends" not in path.parts and "inside" not in path.parts
    ]
    importing = [
        path.name
        for path in outside
        if re.search(r"^\s*(import docker|from docker\b)", path.read_text(encoding="utf-8"), re.M)
    ]
    assert importing == []


def test_a_host_interpreter_is_placed_on_the_host_and_an_image_in_a_container(tmp_path: Path) -> None:
    host = Environment(name="here", python="3.12", host_python="venv/bin/python")
    image = Environment(name="there", python="3.11", debian="bookworm")
    on_host = placement(host, matrix_dir=tmp_path)
    assert on_host.interpreter == str(tmp_path / "venv" / "bin" / "python")
    assert "data: mounts need a container" in str(on_host.data_refused)
    assert (on_host.gpu_asked, on_host.probed_frameworks) == (False, True)
    in_container = placement(image, matrix_dir=tmp_path)
    assert (in_container.interpreter, in_container.data_refused) == (None, None)
    assert (in_container.gpu_asked, in_container.probed_frameworks) == (True, False)
    assert in_container.reusable
    # On Slurm the scheduler picks the node: a later run reuses no record, container or not.
    on_slurm = placement(image.model_copy(update={"slurm": Slurm(partition="cpu-a")}), matrix_dir=tmp_path)
    assert (on_slurm.reusable, on_slurm.interpreter, on_slurm.data_refused) == (False, None, None)
    # A name without a slash is found on PATH when it runs, not resolved against the matrix.
    assert placement(
        Environment(name="p", python="3.12", host_python="python3"), matrix_dir=tmp_path
    ).interpreter == ("python3")


def test_without_an_engine_an_image_is_unknown_and_a_host_interpreter_is_ready(tmp_path: Path) -> None:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    path = tmp_path / "matrix.yaml"
    path.write_text(
        f"""\
environments:
  - {{name: image, debian: bookworm, python: "3.11", numpy: "2.0.2"}}
  - {{name: here, host_python: {sys.executable}, python: "{version}"}}
cases:
  - {{name: c, script: c.py}}
""",
        encoding="utf-8",
    )
    (tmp_path / "c.py").write_text("", encoding="utf-8")
    matrix = load_matrix(path)
    unknown = forecast(None, matrix, matrix.environment("image"), None)
    assert (unknown.action, unknown.ready) == ("unknown", False)
    here = HostBackend(matrix, cpu_ids=[0], cpu=None).forecast(matrix.environment("here"))
    assert (here.action, here.ready, here.tag) == ("host interpreter", True, None)


def test_a_wheel_directory_is_named_by_what_it_holds_and_the_base_it_was_made_for(tmp_path: Path) -> None:
    fetching = Fetching(cache=tmp_path)
    plan = WheelPlan(pins=("numpy==2.0.2",))
    same = fetching.pins_directory(WheelPlan(pins=("numpy==2.0.2",)), "sha256:base")
    assert fetching.pins_directory(plan, "sha256:base") == same
    assert fetching.pins_directory(plan, "sha256:other") != same
    assert fetching.pins_directory(WheelPlan(pins=("numpy==2.1.0",)), "sha256:base") != same
    assert same.parent == tmp_path
    (tmp_path / "project").mkdir()
    assert fetching.project_directory(tmp_path / "project", "sha256:base").parent == tmp_path / "projects"
