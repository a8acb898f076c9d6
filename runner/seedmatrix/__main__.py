"""Command line: `seedmatrix matrix | images | report | bisect | ...`. Errors meant for users are caught
here, once."""

from __future__ import annotations

from . import interrupts

interrupts.install()  # first: a signal while the rest loads takes the same path as any other

# Imported after the handlers, so an interrupt while they load is noted, not a traceback.
import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import fields  # noqa: E402
from pathlib import Path  # noqa: E402

from . import __version__  # noqa: E402
from .backends.docker.forecast import prune  # noqa: E402
from .bisector import BisectRequest, bisect_job  # noqa: E402
from .builds import images_job  # noqa: E402
from .commits import split_range  # noqa: E402
from .config import matrix_schema  # noqa: E402
from .errors import ConfigError, SeedmatrixError  # noqa: E402
from .gitprobe import EXIT_ABORT, ProbeRequest, probe_job  # noqa: E402
from .limits import DEFAULT_MEMORY  # noqa: E402
from .log import Output  # noqa: E402
from .options import DEBIAN_BASES, DEFAULT_BUILD_JOBS, DEVICES, PLATFORMS, Options, memory_size  # noqa: E402
from .pipeline import (  # noqa: E402
    EXIT_INTERRUPTED,
    EXIT_PENDING,
    RESUME_LATEST,
    collect_job,
    matrix_job,
    report_job,
)
from .plan import Selection, parse_shard  # noqa: E402
from .preview import show_plan  # noqa: E402
from .results import results_schema  # noqa: E402
from .starter import write_starter  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seedmatrix", description="A containerised reproducibility matrix for random seeds."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_matrix_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("-c", "--config", type=Path, default=Path("matrix.yaml"), help="matrix file")
        command.add_argument("--results", type=Path, default=Path("results"), help="results root")
        command.add_argument(
            "-e", "--environment", action="append", default=[], help="only this environment (repeatable)"
        )
        command.add_argument("--case", action="append", default=[], help="only this case (repeatable)")
        command.add_argument(
            "--device", choices=DEVICES, help="only the environments that run on this device"
        )
        command.add_argument(
            "--platform",
            action="append",
            default=[],
            choices=PLATFORMS,
            help="only the environments made for this platform (repeatable; host: those without "
            "platform:, made for the machine that runs them)",
        )
        command.add_argument(
            "--shard",
            metavar="I/N",
            help="only the I-th of N slices of the environments (for several machines)",
        )
        command.add_argument(
            "--ca-bundle",
            type=Path,
            help="extra CA bundle pip trusts while fetching wheels (default: the first set of $PIP_CERT, "
            "$REQUESTS_CA_BUNDLE, $SSL_CERT_FILE); kept in no image",
        )
        command.add_argument("--debian-mirror", help="Debian archive for base images (default: the recipe's)")
        command.add_argument(
            "--debian-base",
            choices=DEBIAN_BASES,
            help="make `debian:` bases from Debian's archive with mmdebstrap, or from Debian's official "
            "image in a registry (default: the archive when mmdebstrap is installed, else the image; "
            "$SEEDMATRIX_DEBIAN_BASE)",
        )
        command.add_argument(
            "--registry",
            metavar="REF",
            help="pull images by their content tags from this registry before building (e.g. "
            "ghcr.io/owner/repo; overrides registry: in matrix.yaml); credentials are the engine's own",
        )

    matrix = commands.add_parser("matrix", help="build what is missing, run every cell, write the report")
    with_matrix_options(matrix)
    with_build_options(matrix)
    matrix.add_argument(
        "--memory",
        default=DEFAULT_MEMORY,
        type=memory_size,
        help=f"memory limit of each seed container, swap included (default {DEFAULT_MEMORY})",
    )
    matrix.add_argument(
        "-j", "--jobs", type=_positive, help="containers at once (default: the engine's CPU count)"
    )
    matrix.add_argument(
        "--resume",
        nargs="?",
        type=Path,
        const=RESUME_LATEST,
        metavar="RUN",
        help="finish a stopped run: only its missing records run (default: the newest run under --results "
        "that did not finish)",
    )
    matrix.add_argument(
        "--reuse-from",
        type=Path,
        metavar="RUN",
        help="another run (its directory or results.json, e.g. the previous CI run's artifact) whose cells "
        "may be reused where their image, files and settings are the same",
    )
    matrix.add_argument(
        "--detach",
        action="store_true",
        help="submit the Slurm environments' repeats and return without waiting for them (the other "
        "environments' run to their end first), with exit status "
        f"{EXIT_PENDING} while some are queued or running; `seedmatrix collect RUN` gathers them and "
        "writes the report",
    )
    matrix.add_argument(
        "--fresh",
        action="store_true",
        help="run every cell, even those whose image and script are unchanged since an earlier run",
    )
    with_verdict_options(matrix)
    images = commands.add_parser("images", help="build the images only, and show what they contain")
    with_matrix_options(images)
    with_build_options(images)
    with_matrix_options(
        commands.add_parser(
            "plan", help="say which images would be found or built and which cells run, reused or skipped"
        )
    )
    prune = commands.add_parser(
        "prune", help="remove seedmatrix images and wheel caches that none of these matrix files uses"
    )
    prune.add_argument("configs", nargs="*", type=Path, default=[Path("matrix.yaml")], metavar="MATRIX")
    prune.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    collect = commands.add_parser(
        "collect",
        help="gather a run's Slurm tasks (a --detach run, or one whose submitter was killed), waiting for "
        "those not ended, and write its report; Ctrl-C leaves the jobs running",
    )
    collect.add_argument(
        "run",
        nargs="?",
        type=Path,
        default=Path("results/latest"),
        metavar="RUN",
        help="the run directory (default results/latest); its stored options are used",
    )
    collect.add_argument(
        "--no-wait",
        action="store_true",
        help=f"if any task is still queued or running, say how many and exit {EXIT_PENDING} at once, "
        "writing nothing",
    )
    report = commands.add_parser("report", help="re-render MATRIX.md from stored results; runs nothing")
    report.add_argument(
        "runs",
        nargs="*",
        type=Path,
        default=[Path("results/latest")],
        metavar="RUN",
        help="run directories or results.json files (default results/latest); several are merged",
    )
    report.add_argument(
        "--into", type=Path, help="where merged results and their MATRIX.md go (default results/merged)"
    )
    with_verdict_options(report)
    with_bisect_options(
        commands.add_parser("bisect", help="find the release of a package that changed a case's values")
    )
    schema = commands.add_parser("schema", help="print the JSON Schema of matrix.yaml or of results.json")
    schema.add_argument("of", choices=["matrix", "results"])
    init = commands.add_parser("init", help="write a starting matrix.yaml for a project")
    init.add_argument(
        "project", nargs="?", type=Path, default=Path(), help="the project's directory (default .)"
    )
    init.add_argument(
        "--script",
        action="append",
        type=Path,
        default=[],
        help="a script to run, relative to it (repeatable)",
    )
    init.add_argument(
        "--python",
        default=f"{sys.version_info[0]}.{sys.version_info[1]}",
        help="Python major.minor (default: this one)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing matrix.yaml")
    return parser


def with_build_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--push", action="store_true", help="push the base and environment images to the registry after"
    )
    command.add_argument(
        "--build-jobs",
        type=_positive,
        help=f"images built at once (default {DEFAULT_BUILD_JOBS})",
    )


def with_bisect_options(command: argparse.ArgumentParser) -> None:
    with_bisected_case(
        command, environment="the environment whose package is re-pinned (or whose project is bisected)"
    )
    command.add_argument(
        "--commits",
        metavar="GOOD..BAD",
        help="bisect the git commits of the project the environment installs (install:) from GOOD to "
        "BAD, instead of a package's releases",
    )
    command.add_argument("--package", help="the package bisected (one the environment pins)")
    command.add_argument("--good", metavar="VERSION", help="the release whose values are the reference")
    command.add_argument("--bad", metavar="VERSION", help="a later release whose values changed")
    command.add_argument("--pre", action="store_true", help="probe pre-releases between the ends too")
    command.add_argument(
        "--resume",
        action="store_true",
        help="continue the newest stopped bisect of these same arguments (its probes are kept)",
    )
    modes = command.add_subparsers(dest="bisect_mode", metavar="probe")
    probe = modes.add_parser(
        "probe",
        help="test the working tree once, for `git bisect run`: exit 0 same as --reference, 1 changed, "
        "125 cannot test, 128 an error (stops the bisect)",
    )
    with_bisected_case(probe, environment="the environment prepared from the working tree")
    probe.add_argument(
        "--reference",
        required=True,
        type=Path,
        metavar="RUN",
        help="a matrix run at the good commit (its directory or results.json) holding the environment's "
        "records of the case",
    )


def with_bisected_case(command: argparse.ArgumentParser, *, environment: str) -> None:
    """The options `bisect` and `bisect probe` share. Required ones are checked in `_bisect_request`:
    argparse would demand them of `bisect` before its `probe` could take them."""
    command.add_argument(
        "-c",
        "--matrix",
        "--config",
        dest="config",
        type=Path,
        default=Path("matrix.yaml"),
        help="matrix file",
    )
    command.add_argument("--results", type=Path, default=Path("results"), help="results root")
    command.add_argument("-e", "--environment", help=environment)
    command.add_argument("--case", help="the case each probe runs")
    command.add_argument(
        "--label",
        action="append",
        default=[],
        help="compare only this label (repeatable; default: every label)",
    )
    command.add_argument(
        "--ca-bundle",
        type=Path,
        help="extra CA bundle for the package index and pip (default: the first set of $PIP_CERT, "
        "$REQUESTS_CA_BUNDLE, $SSL_CERT_FILE)",
    )
    command.add_argument(
        "--memory",
        default=DEFAULT_MEMORY,
        type=memory_size,
        help=f"memory limit of each seed container, swap included (default {DEFAULT_MEMORY})",
    )


def with_verdict_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--baseline",
        type=Path,
        help="an earlier results.json or run directory to compare against (overrides matrix.yaml)",
    )
    command.add_argument(
        "--report-only", action="store_true", help="report SURPRISES without a non-zero exit status"
    )
    command.add_argument(
        "--fail-on-change", action="store_true", help="a change against the baseline exits 1 (a CI gate)"
    )


def _selection(arguments: argparse.Namespace) -> Selection:
    return Selection(
        environments=tuple(arguments.environment),
        cases=tuple(arguments.case),
        device=arguments.device,
        platforms=tuple(arguments.platform),
        shard=parse_shard(arguments.shard) if arguments.shard else (1, 1),
    )


def _options(arguments: argparse.Namespace) -> Options:
    """What a `matrix`, `images` or `plan` command line asks: each option the command has, under its
    own name; those it lacks (`images` runs nothing, so it has no --jobs) keep Options' defaults."""
    names = {field.name for field in fields(Options)}
    given = {name: value for name, value in vars(arguments).items() if name in names}
    return Options(**given, selection=_selection(arguments))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        message = f"must be at least 1, not {value}"
        raise argparse.ArgumentTypeError(message)
    return value


def _bisect_request(arguments: argparse.Namespace) -> BisectRequest | ProbeRequest:
    needed = ["environment", "case"]
    commits = arguments.bisect_mode != "probe" and arguments.commits is not None
    if commits:
        excluded = [
            f"--{name}" for name in ("package", "good", "bad") if getattr(arguments, name) is not None
        ]
        if excluded or arguments.pre:
            named = ", ".join([*excluded, *(["--pre"] if arguments.pre else [])])
            raise ConfigError(f"seedmatrix bisect: --commits bisects commits, not releases: drop {named}")
    elif arguments.bisect_mode != "probe":
        needed += ["package", "good", "bad"]
    missing = [f"--{name}" for name in needed if getattr(arguments, name) is None]
    if missing:
        raise ConfigError(f"seedmatrix bisect: {', '.join(missing)} must be given")
    if arguments.bisect_mode == "probe":
        return ProbeRequest(
            config=arguments.config,
            results=arguments.results,
            environment=arguments.environment,
            case=arguments.case,
            reference=arguments.reference,
            labels=tuple(arguments.label),
            ca_bundle=arguments.ca_bundle,
            memory=arguments.memory,
        )
    good, bad = split_range(arguments.commits) if commits else (arguments.good, arguments.bad)
    return BisectRequest(
        config=arguments.config,
        results=arguments.results,
        environment=arguments.environment,
        case=arguments.case,
        package=arguments.package or "",
        good=good,
        bad=bad,
        commits=commits,
        labels=tuple(arguments.label),
        pre=arguments.pre,
        ca_bundle=arguments.ca_bundle,
        memory=arguments.memory,
        resume=arguments.resume,
    )


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    # Under `git bisect run`, every status from 1 to 127 but 125 marks the commit bad: each error
    # (seedmatrix's own statuses, argparse's 2, an unforeseen exception's 1) must stop the bisect.
    probing = words[:2] == ["bisect", "probe"]
    if not interrupts.arm():  # stopped while loading: nothing started, nothing to clean up
        interrupts.interrupted()
        return EXIT_INTERRUPTED
    out = Output(env=os.environ)
    try:
        status = _command(words, out)
    except SeedmatrixError as error:
        out.error(str(error))
        status = EXIT_ABORT if probing else error.exit_code
    except KeyboardInterrupt:
        out.warn("interrupted")
        status = EXIT_INTERRUPTED
    except SystemExit as stop:  # argparse: --help (0) or a command line it refused (2)
        if not probing or stop.code in (0, None):
            raise
        status = EXIT_ABORT
    except Exception:
        if not probing:
            raise
        traceback.print_exc()
        status = EXIT_ABORT
    interrupts.decided()
    return EXIT_INTERRUPTED if interrupts.interrupted() else status


def _command(words: Sequence[str], out: Output) -> int:
    arguments = _parser().parse_args(words)
    if arguments.command == "init":
        written = write_starter(
            arguments.project, arguments.script, python=arguments.python, force=arguments.force
        )
        out.step(f"wrote {written} (and matrix.schema.json beside it); check its TODOs, then run it with:")
        out.note(f"seedmatrix matrix --config {written}")
        return 0
    if arguments.command == "schema":
        schema = matrix_schema() if arguments.of == "matrix" else results_schema()
        sys.stdout.write(json.dumps(schema, indent=2) + "\n")
        return 0
    if arguments.command == "prune":
        return prune(arguments.configs, dry_run=arguments.dry_run, out=out)
    if arguments.command == "bisect":
        request = _bisect_request(arguments)
        if isinstance(request, ProbeRequest):
            return probe_job(request, out, os.environ)
        return bisect_job(request, out, os.environ)
    if arguments.command == "plan":
        return show_plan(_options(arguments), out=out, environ=os.environ)
    if arguments.command == "collect":
        return collect_job(arguments.run, out, os.environ, wait=not arguments.no_wait)
    if arguments.command == "report":
        return report_job(
            arguments.runs,
            out,
            baseline=arguments.baseline,
            report_only=arguments.report_only,
            fail_on_change=arguments.fail_on_change,
            into=arguments.into,
        )
    job = matrix_job if arguments.command == "matrix" else images_job
    return job(_options(arguments), out, os.environ)


if __name__ == "__main__":
    sys.exit(main())
