"""The docs state what the code does: their commands parse, their links resolve, their facts hold."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from seedmatrix import config, errors, files, store, yamldoc
from seedmatrix.__main__ import _parser
from seedmatrix.backends import execute
from seedmatrix.backends.docker import container
from seedmatrix.backends.host import hostrun
from seedmatrix.limits import DEFAULT_MEMORY, Limits
from seedmatrix.pipeline import EXIT_INTERRUPTED, EXIT_PENDING

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SESSIONS = set(re.findall(r"@nox\.session\s+def (\w+)", (ROOT / "noxfile.py").read_text(encoding="utf-8")))
#: nox sessions whose arguments go to `seedmatrix <command>`.
SESSION_COMMANDS = {"matrix": "matrix", "images": "images", "report": "report", "bisect": "bisect"}


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def commands(path: Path) -> list[str]:
    """Every command in the document's bash blocks, `&&` chains split, comments dropped."""
    found = []
    for token in MarkdownIt("commonmark").parse(text(path)):
        if token.type == "fence" and token.info.strip() == "bash":
            for line in token.content.splitlines():
                command = "" if line.lstrip().startswith("#") else line.split(" #", 1)[0]
                found += [part.strip() for part in command.split("&&") if part.strip()]
    return found


ALL_COMMANDS = [(path.relative_to(ROOT), command) for path in DOCS for command in commands(path)]


@pytest.mark.parametrize(("doc", "command"), ALL_COMMANDS, ids=[f"{d}:{c}" for d, c in ALL_COMMANDS])
def test_every_command_in_the_docs_is_one_the_tools_accept(doc: Path, command: str) -> None:
    words = shlex.split(command)
    if words[:2] == ["bash", "scripts/engine"]:
        assert words[2] in {"start", "stop"}
        assert (ROOT / "scripts" / "engine").is_file()
    elif words[:2] == ["bash", "scripts/slurm"]:
        assert words[2] in {"start", "stop", "status"}
        assert (ROOT / "scripts" / "slurm").is_file()
    elif words[:2] == ["python3", "-m"] and words[2] == "pip":
        assert words[3] == "install"
    elif words[0] == "nox":
        assert words[1] == "-s"
        assert words[2] in SESSIONS, f"{doc}: no nox session {words[2]!r}"
        if words[2] in SESSION_COMMANDS and "--" in words:
            _parser().parse_args([SESSION_COMMANDS[words[2]], *words[words.index("--") + 1 :]])
    elif words[0] == "seedmatrix":
        _parser().parse_args(words[1:])
    elif words[0] == "scripts/gpu-evidence":
        loader = importlib.machinery.SourceFileLoader("gpu_evidence", str(ROOT / words[0]))
        spec = importlib.util.spec_from_loader(loader.name, loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        module.parser().parse_args(words[1:])
    elif words[0] == "docker":
        pass  # the engine's own CLI, shown for GPU runners
    elif words[:3] == ["git", "bisect", "run"]:
        assert words[3] == "seedmatrix", f"{doc}: git bisect runs something other than seedmatrix"
        _parser().parse_args(words[4:])
    elif words[0] == "git":
        pass  # git's own CLI, around `git bisect run`
    else:
        pytest.fail(f"{doc}: a command the docs test does not know how to check: {command}")


def test_the_readme_gives_the_two_commands_and_ci_runs_the_test_one() -> None:
    readme = commands(ROOT / "README.md")
    assert "nox -s matrix" in readme
    assert "nox -s tests" in readme
    assert "nox -s tests" in text(ROOT / ".ci" / "run")


def test_the_readme_is_short() -> None:
    assert len(text(ROOT / "README.md").splitlines()) <= 160


@pytest.mark.parametrize("path", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", text(path)):
        assert (path.parent / target).exists(), f"{path.name}: {target} does not exist"


def test_the_exit_statuses_listed_are_the_codes_errors_carry() -> None:
    table = text(ROOT / "docs" / "configuration.md")
    listed = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    codes = {
        kind.exit_code
        for kind in vars(errors).values()
        if isinstance(kind, type) and issubclass(kind, errors.SeedmatrixError)
    }
    assert listed == {0, EXIT_INTERRUPTED, EXIT_PENDING} | codes


def test_the_isolation_facts_are_the_codes() -> None:
    isolation = text(ROOT / "docs" / "isolation.md")
    limits = Limits(timeout_seconds=1)
    assert (
        f"the first {limits.output_bytes >> 20} MiB of stdout and the last {limits.output_bytes >> 20} MiB"
        in isolation
    )
    assert f"the first {execute.OUTPUT_CHARACTERS:,} characters of stdout" in isolation
    assert f"records file** on a tmpfs of its own ({limits.records_bytes >> 20} MiB)" in isolation
    assert f"`--memory` (default {DEFAULT_MEMORY})" in isolation
    assert f"SIGKILL {container.STOP_GRACE_SECONDS} s later" in isolation
    assert f"at most {limits.pids} (`pids_limit`)" in isolation
    assert f"a {limits.tmp_mb} MB tmpfs on `/tmp`" in isolation
    passed = ", ".join(f"`{name}`" for name in hostrun.PASSED_THROUGH)
    assert f"the case's, plus {passed} |" in isolation.replace(", and ", ", ")


def test_the_input_limits_quoted_are_the_codes() -> None:
    quoted = text(ROOT / "docs" / "configuration.md") + text(ROOT / "docs" / "isolation.md")
    assert f"{config.MAX_CONFIG_BYTES // files.MIB} MiB" in quoted
    assert f"{yamldoc.MAX_NODES:,} nodes" in quoted
    assert f"{yamldoc.MAX_DEPTH} levels" in quoted
    results_gib, record_mib = (
        store.MAX_RESULTS_BYTES // files.MIB // 1024,
        store.MAX_RECORD_BYTES // files.MIB,
    )
    assert f"results and records: {results_gib} GiB and {record_mib} MiB" in quoted


def test_every_claim_kind_is_documented() -> None:
    from seedmatrix.claims import CLAIM_KINDS  # noqa: PLC0415

    documented = set(re.findall(r"^\| `(\w+)` \|", text(ROOT / "docs" / "configuration.md"), re.MULTILINE))
    assert set(CLAIM_KINDS) <= documented
