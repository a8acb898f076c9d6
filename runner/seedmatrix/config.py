"""matrix.yaml → typed, validated, frozen objects.

The file is validated once, here, at the edge. Every error names the key path
(`environments[2].numpy`) and the line the YAML parser saw it on, so nothing downstream
re-checks user input.

Over 500 lines on purpose: these are matrix.yaml's models, one per mapping of the file, and their
validators; kept together, the key paths in errors and the generated JSON Schema come from one place.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from . import yamldoc
from .errors import ConfigError
from .files import read_text_bounded
from .labels import placeholders
from .limits import MEMORY_PATTERN
from .lockfile import LockFile, read_lock_file
from .results import FRAMEWORKS, Framework

MAX_CONFIG_BYTES = 1 << 20

#: The Python each supported Debian suite ships (python3 package), checked against `python:`.
DEBIAN_PYTHON: Mapping[str, str] = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}

#: The Dockerfile and the Debian base recipe seedmatrix ships; `images_dir:` may name others.
ASSETS = Path(__file__).parent / "assets"
#: What runs inside images and interpreters (the launcher, the recorder, the probes, the wheel fetcher).
INSIDE = Path(__file__).parent / "inside"
LAUNCHER = "launch.py"  # in INSIDE: runs one repeat

_EXACT_VERSION = r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# A Docker image reference: [registry[:port]/]path[:tag][@digest]; lower-case path components.
_IMAGE_REFERENCE = (
    r"^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$"
)

_PATH_TEXT = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,4096}$"  # no control or line-separator characters
PathText = Annotated[str, Field(strict=True), StringConstraints(pattern=_PATH_TEXT)]
ExactVersion = Annotated[str, Field(strict=True), StringConstraints(pattern=_EXACT_VERSION)]
Name = Annotated[str, Field(strict=True), StringConstraints(pattern=_NAME)]
PythonVersion = Annotated[str, Field(strict=True), StringConstraints(pattern=r"^3\.\d{1,2}$")]
# name[extras]==version: one exact release, as pip understands it (PEP 440 versions, local ones too).
_EXACT_PIN = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._,-]+\])?==[0-9][0-9A-Za-z.!+_-]*$"
ExactPin = Annotated[str, Field(strict=True), StringConstraints(pattern=_EXACT_PIN)]
# 512m, 4g: the units Docker's memory limits take.
Memory = Annotated[str, Field(strict=True), StringConstraints(pattern=MEMORY_PATTERN)]
_CONTAINER_PATH = r"^/[^\x00-\x1f\x7f:,]{0,4095}$"
ContainerPath = Annotated[str, Field(strict=True), StringConstraints(pattern=_CONTAINER_PATH)]
ImageReference = Annotated[str, Field(strict=True), StringConstraints(pattern=_IMAGE_REFERENCE)]
# An image repository, no tag or digest: debian, docker.io/library/debian, localhost:5000/debian
_REPOSITORY = r"^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$"
# A registry and a path in it, no tag: ghcr.io/owner/repo, localhost:5000/seedmatrix
_REGISTRY = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"
RegistryReference = Annotated[str, Field(strict=True), StringConstraints(pattern=_REGISTRY, max_length=255)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Slurm's own syntaxes, as sbatch takes them (one value each; no spaces, no shell characters).
_SLURM_GRES = r"^[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+){0,2}(,[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+){0,2})*$"
_SLURM_CONSTRAINT = r"^[A-Za-z0-9_.:*&|,\[\]()-]{1,256}$"
_SLURM_TIME = r"^(\d{1,4}-)?\d{1,5}(:\d{1,2}){0,2}$"
_SLURM_OPTION = r"^--[a-z][a-z0-9-]*(=[^\x00-\x1f\x7f]{1,512})?$"
#: What the Slurm backend sets itself on every sbatch (a matrix giving one would break the run).
SLURM_OPTIONS_OWN = ("--array", "--job-name", "--comment", "--output", "--error", "--parsable",
                     "--wait", "--partition", "--gres", "--constraint", "--time", "--account",
                     "--cpus-per-task", "--chdir")  # fmt: skip
SlurmGres = Annotated[str, Field(strict=True), StringConstraints(pattern=_SLURM_GRES)]
SlurmConstraint = Annotated[str, Field(strict=True), StringConstraints(pattern=_SLURM_CONSTRAINT)]
SlurmTime = Annotated[str, Field(strict=True), StringConstraints(pattern=_SLURM_TIME)]
SlurmOption = Annotated[str, Field(strict=True), StringConstraints(pattern=_SLURM_OPTION)]


class Slurm(_Model):
    """Where an environment's repeats run on a Slurm cluster: each a job (array) task, through sbatch."""

    partition: Name | None = None  # None: the cluster's default partition
    gres: SlurmGres | None = None  # gpu:a100:1
    constraint: SlurmConstraint | None = None  # node features: a100&nvlink
    time: SlurmTime | None = None  # a task's time limit as sbatch takes it: 30, 00:30:00, 1-00:00:00
    account: Name | None = None
    extra: tuple[SlurmOption, ...] = ()  # more sbatch options: --qos=short, --mem=16G

    @field_validator("extra")
    @classmethod
    def _not_the_backends_own(cls, extra: tuple[str, ...]) -> tuple[str, ...]:
        for option in extra:
            name = option.split("=", 1)[0]
            if name in SLURM_OPTIONS_OWN:
                key = name.removeprefix("--")
                instead = f"give it as slurm: {key}:" if key in cls.model_fields else "leave it out"
                raise ValueError(f"{name} is set by seedmatrix itself; {instead}")
        return extra


class Environment(_Model):
    """One image: a base (Debian suite or registry image) plus exact pins."""

    name: Name
    python: PythonVersion
    debian: Literal["bullseye", "bookworm", "trixie"] | None = None
    base_image: ImageReference | None = None
    # No container: runs use this interpreter on the runner's machine (a path, or a name on PATH).
    # Its packages are not installed by seedmatrix: the pins below are checked against it.
    host_python: PathText | None = None
    numpy: ExactVersion | None = None
    tensorflow: ExactVersion | None = None
    torch: ExactVersion | None = None
    jax: ExactVersion | None = None
    # tensorflow[and-cuda] is TensorFlow's CUDA flavour: it brings the NVIDIA libraries with it.
    tensorflow_package: Literal["tensorflow-cpu", "tensorflow", "tensorflow[and-cuda]"] = "tensorflow-cpu"
    device: Literal["cpu", "gpu"] = "cpu"  # gpu: the runs ask the engine for the host's GPUs
    # Cap every framework's CPU kernels at one instruction set (their documented switches; see cpu.py),
    # and turn TensorFlow's oneDNN optimisations on or off. Each run reads back what applied.
    cpu_isa: Literal["sse4.2", "avx", "avx2", "avx512"] | None = None
    onednn: bool | None = None
    packages: tuple[ExactPin, ...] = ()  # more exact pins: scikit-learn==1.6.1
    requirements: PathText | None = None  # a requirements or lock file of exact pins (hashes checked)
    install: tuple[PathText, ...] = ()  # local projects (a directory with pyproject.toml), built as wheels
    # The CPU architecture its image is made for (default: the host's); another one runs emulated.
    platform: Literal["linux/amd64", "linux/arm64"] | None = None
    # Run the repeats as Slurm jobs on the cluster's nodes instead of on this machine: host_python
    # on their shared filesystem, or (CPU only) the image in a fresh container of each node's engine.
    slurm: Slurm | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_project_is_a_list_of_one(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("install"), str):
            return {**data, "install": [data["install"]]}
        return data

    @model_validator(mode="after")
    def _one_base(self) -> Environment:
        if sum(base is not None for base in (self.debian, self.base_image, self.host_python)) != 1:
            raise ValueError(
                "give exactly one of 'debian' (a suite), 'base_image' (a registry image) or "
                "'host_python' (an interpreter on this machine, no container)"
            )
        if self.base_image is not None and self.platform is not None:
            # One local tag holds one architecture: a base_image pulled for two platforms would swap.
            raise ValueError("'platform' needs a debian: base (a base_image's tag names one architecture)")
        if self.host_python is not None and self.platform is not None:
            raise ValueError(
                "'platform' needs a container: a host_python interpreter runs on this machine's own"
            )
        if self.slurm is not None and self.host_python is None and self.device == "gpu":
            raise ValueError(
                "slurm: a GPU container environment on Slurm is not supported yet (mapping the "
                "GPUs Slurm gives a task into its container was not built or tested): use "
                "host_python (an interpreter on the nodes' shared filesystem) for GPUs on Slurm"
            )
        if self.slurm is not None and self.platform is not None:
            raise ValueError(
                "slurm: 'platform' (an emulated architecture) is not supported on Slurm: the "
                "nodes' emulation was not built or tested"
            )
        if self.slurm is not None and self.device == "gpu" and not _asks_for_gpus(self.slurm):
            raise ValueError(
                "a GPU environment on Slurm must ask for its GPUs (slurm: gres: gpu:1, or "
                "extra: [--gpus=1]): without them its jobs may land where no GPU is given"
            )
        if self.debian is not None and DEBIAN_PYTHON[self.debian] != self.python:
            raise ValueError(
                f"python is {self.python!r} but Debian {self.debian} ships Python "
                f"{DEBIAN_PYTHON[self.debian]}"
            )
        return self

    @property
    def flavour(self) -> str:
        return "cuda" if self.tensorflow_package == "tensorflow[and-cuda]" else "cpu"

    @property
    def frameworks(self) -> frozenset[str]:
        return frozenset(name for name, pin in self.pins.items() if pin)

    @property
    def pins(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in FRAMEWORKS}

    @property
    def framework_pins(self) -> tuple[str, ...]:
        """The frameworks' and `packages:` exact pip requirements, in a stable order."""
        pins = []
        if self.numpy:
            pins.append(f"numpy=={self.numpy}")
        if self.tensorflow:
            pins.append(f"{self.tensorflow_package}=={self.tensorflow}")
        pins += [f"{name}=={self.pins[name]}" for name in ("torch", "jax") if self.pins[name]]
        return (*pins, *self.packages)


def _asks_for_gpus(slurm: Slurm) -> bool:
    """Whether the jobs ask Slurm for at least one GPU (gpu:0 or --gpus=0 asks for none)."""
    # gres is a list (gpu:0,tmpdisk:100): each of its GPU requests, not the list's last count.
    asked = [request for request in (slurm.gres or "").split(",") if request.startswith("gpu")]
    asked += [option for option in slurm.extra if option.startswith("--gpus")]
    return any(not re.search(r"[:=]0+$", request) for request in asked)


LabelPattern = Annotated[str, Field(strict=True, min_length=1, max_length=200)]
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(strict=True), StringConstraints(pattern=_ENV_NAME)]


class Tolerance(_Model):
    """How far apart two values may be and still count as close: in ULPs, or |a - b| <= atol + rtol * |b|."""

    ulps: Annotated[int, Field(strict=True, ge=0)] | None = None
    atol: Annotated[float, Field(ge=0)] | None = None
    rtol: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Tolerance:
        if (self.ulps is None) == (self.atol is None and self.rtol is None):
            raise ValueError("give either ulps, or atol and/or rtol")
        return self


class CloseTo(Tolerance):
    """Another label of the same run, and how far from it a label may be (a CPU and a GPU result)."""

    to: LabelPattern


class Claims(_Model):
    """What a case claims, per labelled value; checked against what was observed.

    Patterns: `*` matches anything, `{name}` captures a part that an `equal` template reuses.
    Bitwise claims first; `stable_within` and `close_to_reference` allow a tolerance and are shown
    apart from them.
    """

    stable: tuple[LabelPattern, ...] = ()  # bitwise identical across repeats
    varies: tuple[LabelPattern, ...] = ()  # not identical in every repeat (at least two differ)
    varies_every_repeat: tuple[LabelPattern, ...] = ()  # a different value in every repeat
    equal: dict[LabelPattern, LabelPattern] = Field(default_factory=dict)  # label → label, same run
    differ: dict[LabelPattern, LabelPattern] = Field(default_factory=dict)  # label ≠ label, same run
    close: dict[LabelPattern, CloseTo] = Field(default_factory=dict)  # label ≈ label, same run
    same_across_environments: tuple[LabelPattern, ...] = ()  # equal to the reference environment
    same_as_case: Name | None = None  # every label equals the other case's, same environment
    stable_within: dict[LabelPattern, Tolerance] = Field(default_factory=dict)  # repeats close, not bitwise
    close_to_reference: dict[LabelPattern, Tolerance] = Field(default_factory=dict)  # close to the reference

    @model_validator(mode="after")
    def _patterns_compile(self) -> Claims:
        patterns = [
            *self.stable,
            *self.varies,
            *self.varies_every_repeat,
            *self.equal,
            *self.differ,
            *self.close,
            *self.same_across_environments,
            *self.stable_within,
            *self.close_to_reference,
        ]
        for pattern in patterns:
            names = placeholders(pattern)
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(f"pattern {pattern!r} captures {{{repeated[0]}}} twice; use another name")
        return self

    @model_validator(mode="after")
    def _templates_use_known_placeholders(self) -> Claims:
        close = {pattern: near.to for pattern, near in self.close.items()}
        for kind, pairs in (("equal", self.equal), ("differ", self.differ), ("close", close)):
            for pattern, template in pairs.items():
                unknown = set(placeholders(template)) - set(placeholders(pattern))
                if unknown:
                    placeholder = "{" + sorted(unknown)[0] + "}"
                    raise ValueError(
                        f"{kind}: {template!r} uses {placeholder}, which {pattern!r} does not capture"
                    )
        return self


# Strict, integers first: a quoted number keeps the digits it was printed with, and a long integer
# all of its digits (lax validation made both the nearest double, a different number).
PrintedNumber = Annotated[
    Annotated[int, Field(strict=True)]
    | Annotated[float, Field(strict=True)]
    | Annotated[str, Field(strict=True)],
    Field(union_mode="left_to_right"),
]


class Expected(_Model):
    """Published values: what someone printed, to how many digits after the decimal point."""

    source: Annotated[str, Field(strict=True)] = ""  # where they were published, shown in the report
    digits: Annotated[int, Field(strict=True, ge=0, le=40)]
    values: dict[LabelPattern, PrintedNumber | list[PrintedNumber] | list[list[PrintedNumber]]]

    @model_validator(mode="after")
    def _numbers(self) -> Expected:
        for label, printed in self.printed.items():
            for text in printed:
                try:
                    number = Decimal(text)
                except InvalidOperation:
                    raise ValueError(f"values.{label}: {text!r} is not a number") from None
                # A printer shows NaN and infinities as words, never to some digits: nothing to round.
                if not number.is_finite():
                    raise ValueError(f"values.{label}: {text!r} is not a finite number")
                decimals = max(0, -int(number.as_tuple().exponent))
                if decimals > self.digits:  # no printer rounding to `digits` decimals prints it
                    raise ValueError(
                        f"values.{label}: {text!r} has {decimals} decimals, more than digits: {self.digits}"
                    )
        return self

    @property
    def printed(self) -> dict[str, list[str]]:
        """Each label's numbers as text, flattened (floats as their shortest repr, as printed)."""
        return {label: [_as_text(item) for item in _flat(value)] for label, value in self.values.items()}


def _flat(value: Any) -> list[Any]:
    return [leaf for item in value for leaf in _flat(item)] if isinstance(value, list) else [value]


def _as_text(number: float | int | str) -> str:
    return repr(number) if isinstance(number, float) else str(number)


_OUTPUT = r"^[^/\x00-\x1f\x7f][^\x00-\x1f\x7f]{0,1023}$"  # relative (no `..`: checked below); `*` globs
OutputName = Annotated[str, Field(strict=True), StringConstraints(pattern=_OUTPUT)]
#: Paths in a container seedmatrix itself mounts or needs: `data:` may not mount over them.
RESERVED_PATHS = ("/tmp", "/work", "/outputs", "/opt/seedmatrix", "/proc", "/sys", "/dev", "/etc")


class Case(_Model):
    """One script, how to run it, and what its author claims about it."""

    name: Name
    script: PathText
    args: tuple[Annotated[str, Field(strict=True)], ...] = ()  # command-line arguments for the script
    workdir: PathText | None = None  # mounted read-only, the working directory (default: the script's)
    data: dict[PathText, ContainerPath] = Field(default_factory=dict)  # read-only: host path → container path
    outputs: tuple[OutputName, ...] = ()  # files written into $SEEDMATRIX_OUTPUTS, compared like values
    parse: Annotated[str, Field(strict=True, min_length=1)] | None = None  # values from stdout: named groups
    memory: Memory | None = None  # this case's memory limit (default: --memory)
    timeout_seconds: Annotated[int, Field(strict=True, ge=1, le=86400)] | None = None
    tmp_mb: Annotated[int, Field(strict=True, ge=1, le=65536)] | None = None  # /tmp tmpfs (default 64)
    shm_mb: Annotated[int, Field(strict=True, ge=1, le=65536)] | None = None  # /dev/shm (default 64)
    outputs_mb: Annotated[int, Field(strict=True, ge=1, le=65536)] = 256  # the outputs directory
    requires: tuple[Framework, ...] = ()
    claim: Annotated[str, Field(strict=True)] = ""
    claims: Claims = Field(default_factory=Claims)
    claims_on_cpu: Claims = Field(default_factory=Claims)  # only where the ops ran on a CPU
    claims_on_gpu: Claims = Field(default_factory=Claims)  # only where the ops ran on a GPU
    env: dict[EnvName, Annotated[str, Field(strict=True)]] = Field(default_factory=dict)
    cpus: Annotated[int, Field(strict=True, ge=1, le=256)] = 1
    expected: Expected | None = None
    # Report this case's time beside another's (the same script without a determinism switch, say);
    # `same_as_case` pairs them too.
    timed_against: Name | None = None

    @model_validator(mode="after")
    def _runner_variables_are_reserved(self) -> Case:
        reserved = sorted(name for name in self.env if name.startswith("SEEDMATRIX_"))
        if reserved:
            raise ValueError(f"env: {reserved[0]} is reserved for the runner (SEEDMATRIX_*)")
        return self

    @model_validator(mode="after")
    def _parse_has_named_groups(self) -> Case:
        if self.parse is not None:
            try:
                pattern = re.compile(self.parse, re.MULTILINE)
            except re.error as error:
                raise ValueError(f"parse: not a regular expression ({error})") from None
            if not pattern.groupindex:
                raise ValueError("parse: give named groups, e.g. (?P<loss>[0-9.]+); each is a value")
        return self

    @model_validator(mode="after")
    def _outputs_stay_in_their_directory(self) -> Case:
        for name in self.outputs:
            if ".." in name.split("/"):
                raise ValueError(f"outputs: {name!r} leaves the outputs directory (..)")
        return self

    @model_validator(mode="after")
    def _data_mounts_where_seedmatrix_does_not(self) -> Case:
        for target in self.data.values():
            clash = next(
                (path for path in RESERVED_PATHS if target == path or target.startswith(path + "/")), None
            )
            if clash is not None or target.startswith("/seedmatrix"):
                raise ValueError(
                    f"data: {target} is where seedmatrix mounts its own files; choose another path"
                )
        return self


class MatrixFile(_Model):
    repeats: Annotated[int, Field(strict=True, ge=1, le=100)] = 3
    timeout_seconds: Annotated[int, Field(strict=True, ge=1, le=3600)] = 300
    reference: Name | None = None
    images_dir: PathText | None = None  # default: the Dockerfile and recipe shipped with seedmatrix
    environments: Annotated[tuple[Environment, ...], Field(min_length=1)]
    cases: Annotated[tuple[Case, ...], Field(min_length=1)]
    fail_on_surprise: Annotated[bool, Field(strict=True)] = True
    baseline: PathText | None = None
    fail_on_change: Annotated[bool, Field(strict=True)] = False  # a change against the baseline exits 1
    # Where images are shared between machines (ghcr.io/<owner>/<repo>): pulled before building,
    # pushed with --push; --registry overrides it.
    registry: RegistryReference | None = None


@dataclass(frozen=True, kw_only=True)
class Matrix:
    """A validated matrix.yaml with every path resolved."""

    source: Path
    repeats: int
    timeout_seconds: int
    reference: str
    images_dir: Path
    environments: tuple[Environment, ...]
    cases: tuple[Case, ...]
    scripts: Mapping[str, Path]
    workdirs: Mapping[str, Path] = field(default_factory=dict)  # case → its working directory
    data: Mapping[str, Mapping[Path, str]] = field(default_factory=dict)  # case → host path → container path
    lock_files: Mapping[str, LockFile] = field(default_factory=dict)  # environment → its requirements file
    projects: Mapping[str, tuple[Path, ...]] = field(
        default_factory=dict
    )  # environment → projects to install
    fail_on_surprise: bool = True
    fail_on_change: bool = False
    baseline: Path | None = None
    debian_recipe: DebianRecipe | None = None
    registry: str | None = None

    def workdir(self, case: str) -> Path:
        return self.workdirs.get(case, self.scripts[case].parent)

    def environment(self, name: str) -> Environment:
        return next(env for env in self.environments if env.name == name)

    def case(self, name: str) -> Case:
        return next(case for case in self.cases if case.name == name)


class DebianRecipe(_Model):
    """images/debian-base.yaml: how base images are made from Debian's archive."""

    variant: Literal["minbase", "buildd", "essential", "required", "important", "standard"] = "minbase"
    include: tuple[
        Annotated[str, Field(strict=True), StringConstraints(pattern=r"^[a-z0-9][a-z0-9+.-]+$")], ...
    ]
    mirror: Annotated[str, Field(strict=True), StringConstraints(pattern=r"^(https?|file)://\S+$")]
    # Where no mmdebstrap makes the base: Debian's official image (its `<suite>` tag), the recipe's
    # packages installed on it; `digests` pins a suite's image by digest.
    image: Annotated[str, Field(strict=True), StringConstraints(pattern=_REPOSITORY)] = "debian"
    digests: Mapping[
        Annotated[str, Field(strict=True), StringConstraints(pattern=r"^[a-z]+$")],
        Annotated[str, Field(strict=True), StringConstraints(pattern=r"^sha256:[a-f0-9]{64}$")],
    ] = Field(default_factory=dict)


DEBIAN_RECIPE_FILE = "debian-base.yaml"

_M = TypeVar("_M", bound="_Model")


def _allowed_keys(model: type[BaseModel], parent: tuple[str | int, ...]) -> tuple[str, ...]:
    """The keys a mapping at `parent` may hold, for "did you mean" suggestions."""
    for part in parent:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        nested = [
            arg for arg in _flatten_args(annotation) if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        if not nested:
            return ()
        model = nested[0]
    return tuple(model.model_fields)


def _flatten_args(annotation: Any) -> Iterator[Any]:
    yield annotation
    for argument in get_args(annotation):
        yield from _flatten_args(argument)


def matrix_schema() -> dict[str, Any]:
    """JSON Schema of matrix.yaml, generated from the models above (editors complete and check with it)."""
    schema: dict[str, Any] = MatrixFile.model_json_schema()
    schema["$id"] = "urn:seedmatrix:schema:matrix"
    schema["title"] = "seedmatrix matrix file"
    # `install: .` is accepted as a list of one (see Environment); the schema says so too.
    install = schema["$defs"]["Environment"]["properties"]["install"]
    install["anyOf"] = [install["items"], {"type": "array", "items": install.pop("items")}]
    del install["type"]
    return schema


def load_matrix(path: Path) -> Matrix:
    """Read, parse and validate a matrix file and the Debian base recipe it points at."""
    parsed, lines = _load(MatrixFile, path)
    matrix = _resolve(parsed, path, lines)
    recipe_path = matrix.images_dir / DEBIAN_RECIPE_FILE
    if any(env.debian for env in matrix.environments):
        recipe, _ = _load(DebianRecipe, recipe_path)
        return replace(matrix, debian_recipe=recipe)
    return matrix


def parse_matrix(text: str, *, source: Path) -> Matrix:
    """Validate matrix text; `source` names the file in errors and anchors relative paths."""
    parsed, lines = _validate(MatrixFile, text, source)
    return _resolve(parsed, source, lines)


def _load(model: type[_M], path: Path) -> tuple[_M, dict[tuple[str | int, ...], int]]:
    text = read_text_bounded(path, limit=MAX_CONFIG_BYTES, what="the file", error=ConfigError)
    return _validate(model, text, path)


def _validate(model: type[_M], text: str, source: Path) -> tuple[_M, dict[tuple[str | int, ...], int]]:
    data, lines = yamldoc.load(text, source, key_path=format_key_path)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of keys to values")
    try:
        return model.model_validate(data), lines
    except ValidationError as error:
        details = error.errors()
        # A list whose items failed also fails its length check; the items' errors say more.
        details = [
            detail
            for detail in details
            if not (
                detail["type"] == "too_short"
                and any(
                    other is not detail and other["loc"][: len(detail["loc"])] == detail["loc"]
                    for other in details
                )
            )
        ]
        problems = [_describe(model, detail, lines, source) for detail in details]
        raise ConfigError("\n".join(problems)) from None


def _resolve(parsed: MatrixFile, source: Path, lines: Mapping[tuple[str | int, ...], int]) -> Matrix:
    problems: list[str] = []

    def problem(path: tuple[str | int, ...], message: str) -> None:
        problems.append(_located(path, message, lines, source))

    for kind, names in (
        ("environments", [env.name for env in parsed.environments]),
        ("cases", [case.name for case in parsed.cases]),
    ):
        seen: dict[str, int] = {}
        for index, name in enumerate(names):
            if name in seen:
                problem((kind, index, "name"), f"duplicate name {name!r} (also {kind}[{seen[name]}])")
            seen.setdefault(name, index)
    base = source.parent
    cases = _resolve_cases(parsed, base, problem)
    environments = _resolve_environments(parsed, base, problem, problems)

    names = [env.name for env in parsed.environments]
    reference = parsed.reference or names[0]
    if reference not in names:
        problem(("reference",), f"{reference!r} is not an environment; choose one of {', '.join(names)}")
    images_dir = (base / parsed.images_dir).resolve() if parsed.images_dir else ASSETS
    if not (images_dir / "Dockerfile").is_file():
        problem(("images_dir",), f"{images_dir} has no Dockerfile")
    baseline = (base / parsed.baseline).resolve() if parsed.baseline else None
    if baseline is not None and not baseline.exists():
        problem(("baseline",), f"no such results file or run directory: {baseline}")

    if problems:
        raise ConfigError("\n".join(problems))
    return Matrix(
        source=source,
        repeats=parsed.repeats,
        timeout_seconds=parsed.timeout_seconds,
        reference=reference,
        images_dir=images_dir,
        environments=parsed.environments,
        cases=parsed.cases,
        scripts=cases.scripts,
        workdirs=cases.workdirs,
        data=cases.data,
        lock_files=environments.lock_files,
        projects=environments.projects,
        fail_on_surprise=parsed.fail_on_surprise,
        fail_on_change=parsed.fail_on_change,
        baseline=baseline,
        registry=parsed.registry,
    )


Problem = Callable[[tuple[str | int, ...], str], None]


@dataclass(frozen=True)
class _CasePaths:
    scripts: dict[str, Path]
    workdirs: dict[str, Path]
    data: dict[str, dict[Path, str]]


def _resolve_cases(parsed: MatrixFile, base: Path, problem: Problem) -> _CasePaths:
    """Every case's script, working directory and data mounts, resolved and checked."""
    found = _CasePaths({}, {}, {})
    names = [case.name for case in parsed.cases]
    for index, case in enumerate(parsed.cases):
        for key in ("claims", "claims_on_cpu", "claims_on_gpu"):
            other = getattr(case, key).same_as_case
            if other is not None and (other not in names or other == case.name):
                choices = ", ".join(n for n in names if n != case.name)
                problem(
                    ("cases", index, key, "same_as_case"),
                    f"{other!r} is not another case; choose one of {choices}",
                )
        if case.timed_against is not None and (
            case.timed_against not in names or case.timed_against == case.name
        ):
            choices = ", ".join(n for n in names if n != case.name)
            problem(
                ("cases", index, "timed_against"),
                f"{case.timed_against!r} is not another case; choose one of {choices}",
            )
        script = (base / case.script).resolve()
        if not script.is_file():
            problem(("cases", index, "script"), f"no such file: {script}")
        workdir = (base / case.workdir).resolve() if case.workdir else script.parent
        if not workdir.is_dir():
            problem(("cases", index, "workdir"), f"no such directory: {workdir}")
        elif workdir not in script.parents:
            problem(("cases", index, "workdir"), f"{workdir} does not hold the script {script}")
        mounts = {}
        for host_path, target in case.data.items():
            mount = (base / host_path).resolve()
            if not mount.exists():
                problem(("cases", index, "data", host_path), f"no such file or directory: {mount}")
            mounts[mount] = target
        found.scripts[case.name], found.workdirs[case.name], found.data[case.name] = script, workdir, mounts
    return found


@dataclass(frozen=True)
class _EnvironmentFiles:
    lock_files: dict[str, LockFile]
    projects: dict[str, tuple[Path, ...]]


def _resolve_environments(
    parsed: MatrixFile, base: Path, problem: Problem, problems: list[str]
) -> _EnvironmentFiles:
    """Every environment's requirements file (read and checked) and local projects."""
    found = _EnvironmentFiles({}, {})
    for index, env in enumerate(parsed.environments):
        if env.host_python is not None and (env.requirements or env.install):
            key = "requirements" if env.requirements else "install"
            problem(
                ("environments", index, key),
                "a host interpreter is used as it is; seedmatrix installs nothing there",
            )
            continue
        if env.requirements is not None:
            path = (base / env.requirements).resolve()
            if not path.is_file():
                problem(("environments", index, "requirements"), f"no such file: {path}")
            else:
                try:
                    found.lock_files[env.name] = read_lock_file(
                        path, key=f"environments[{index}].requirements"
                    )
                except ConfigError as error:
                    problems.append(str(error))
        projects = []
        for position, project in enumerate(env.install):
            path = (base / project).resolve()
            if not ((path / "pyproject.toml").is_file() or (path / "setup.py").is_file()):
                problem(
                    ("environments", index, "install", position),
                    f"{path} holds no Python project (no pyproject.toml or setup.py)",
                )
            projects.append(path)
        found.projects[env.name] = tuple(projects)
    return found


def registry_option(text: str) -> str:
    """--registry, checked as `registry:` in matrix.yaml is."""
    if len(text) > 255 or not re.fullmatch(_REGISTRY, text):
        raise ConfigError(f"--registry: {text!r} is not valid here: {_PATTERN_HELP[_REGISTRY]}")
    return text


def format_key_path(path: tuple[str | int, ...]) -> str:
    """('environments', 2, 'numpy') → 'environments[2].numpy'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.strip() == part and part.isprintable() and not any(ch in part for ch in '.[]"') and part:
            text += f".{part}" if text else part
        else:  # keys that would garble the path (control characters, dots, brackets) are quoted
            text += f"[{json.dumps(part)}]"
    return text or "(top level)"


def _describe(
    model: type[_Model], detail: ErrorDetails, lines: Mapping[tuple[str | int, ...], int], source: Path
) -> str:
    path = _user_path(detail["loc"], lines)
    kind = detail["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        allowed = _allowed_keys(model, path[:-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
        return _located(path, f"unknown key {key!r}{hint}", lines, source)
    # Tuples are how lists are stored here; the user wrote a YAML list.
    message = detail["msg"].removeprefix("Value error, ").replace("Tuple should", "List should")
    if kind == "string_type" and isinstance(detail["input"], int | float):
        message += f' (got the number {detail["input"]!r}; quote versions, e.g. "{detail["input"]}")'
    elif kind == "string_pattern_mismatch":
        message = f"{detail['input']!r} is not valid here: " + _PATTERN_HELP.get(_pattern_of(detail), message)
    elif kind == "missing":
        message = "required key is missing"
    return _located(path, message, lines, source)


_VALIDATOR_TAG = re.compile(r"^[a-z_-]*\[.*\]$")


def _user_path(
    loc: tuple[str | int, ...], lines: Mapping[tuple[str | int, ...], int]
) -> tuple[str | int, ...]:
    """The error's location as the user's key path.

    Pydantic inserts tags such as `function-after[...]` for some validators; a part shaped like
    that which is not a key of the document is such a tag and is dropped.
    """
    path: tuple[str | int, ...] = ()
    for part in loc:
        if isinstance(part, str) and _VALIDATOR_TAG.match(part) and (*path, part) not in lines:
            continue
        path = (*path, part)
    return path


_PATTERN_HELP = {
    _EXACT_VERSION: "pin an exact version such as 1.26.4 (no ranges, no wildcards)",
    _NAME: "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    r"^3\.\d{1,2}$": 'give the Python version as major.minor in quotes, e.g. "3.11"',
    _IMAGE_REFERENCE: "expected an image reference such as python:3.11-slim or registry.example:5000/py:3.11",
    _REGISTRY: "expected a registry and a path, no tag: ghcr.io/owner/repo or localhost:5000/seedmatrix",
    _PATH_TEXT: "expected a file path (no control characters)",
    _ENV_NAME: "an environment variable name: letters, digits and '_', not starting with a digit",
    _EXACT_PIN: "pin an exact version: name==1.2.3 (extras allowed: name[extra]==1.2.3)",
    MEMORY_PATTERN: "a size such as 512m or 8g",
    _CONTAINER_PATH: "an absolute path in the container, such as /data/train.csv (no ':' or ',')",
    _OUTPUT: "a file name relative to the outputs directory (no leading / and no ..); * matches any part",
    _SLURM_GRES: "a Slurm generic resource such as gpu:1 or gpu:a100:2",
    _SLURM_CONSTRAINT: "Slurm node features such as a100 or a100&nvlink (no spaces)",
    _SLURM_TIME: "a Slurm time limit such as 30 (minutes), 00:30:00 or 1-00:00:00",
    _SLURM_OPTION: "an sbatch long option such as --qos=short or --mem=16G",
}


def _pattern_of(detail: ErrorDetails) -> str:
    context = detail.get("ctx") or {}
    return str(context.get("pattern", ""))


def _located(
    path: tuple[str | int, ...], message: str, lines: Mapping[tuple[str | int, ...], int], source: Path
) -> str:
    line = _nearest_line(path, lines)
    where = f"{source}:{line}" if line else str(source)
    return f"{where}: {format_key_path(path)}: {message}"


def _nearest_line(path: tuple[str | int, ...], lines: Mapping[tuple[str | int, ...], int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


__all__ = [
    "DEBIAN_PYTHON",
    "Case",
    "DebianRecipe",
    "Environment",
    "Matrix",
    "Slurm",
    "format_key_path",
    "load_matrix",
    "parse_matrix",
]
