"""Every list the docs keep of something the code defines is derived from the code here, so it cannot drift.

Statuses (the enums), the workflow's permissions, sections and path filters (its YAML), the nox sessions
(nox's own registry), the CA bundle variables (wheels), the layout (the tracked files) and what a merge
refuses (merge itself, run on runs that differ in one setting).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.machinery
import importlib.util
import re
import subprocess
from collections.abc import Iterator, Mapping
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import nox.registry
import pytest
import yaml

from seedmatrix.__main__ import _parser
from seedmatrix.backends.docker.wheels import CA_BUNDLE_VARIABLES
from seedmatrix.errors import ResultsError
from seedmatrix.merge import merge
from seedmatrix.results import BuildStatus, CaseResult, Results, RunState, RunStatus

from builders import case, environment, float32_value, repeated, results

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def tracked_files() -> tuple[str, ...]:
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, f"these tests read the tracked files with git ls-files: {listed.stderr}"
    return tuple(name for name in listed.stdout.split("\0") if name)


def tracked_directories() -> set[str]:
    """Every directory that holds a tracked file, as `a/b/`."""
    return {
        name.rsplit("/", depth)[0] + "/"
        for name in tracked_files()
        for depth in range(1, name.count("/") + 1)
    }


def paragraph(document: str, start: str) -> str:
    """The paragraph of `document` that begins with `start`."""
    begins = document.index(start)
    return document[begins : document.find("\n\n", begins)]


# results.md


def test_the_statuses_and_states_in_results_md_are_the_enums() -> None:
    """The build status, the record status and the run state, as the results.json example lists them."""
    example = text(ROOT / "docs" / "results.md")

    def listed(key: str) -> list[set[str]]:
        """The values each `"key": "value",  // "a" | "b" | …` line of the example lists, in order."""
        return [
            set(re.findall(r'"([\w-]+)"', line.split("//", 1)[1]))
            for line in example.splitlines()
            if re.match(rf'\s*"{key}": "[\w-]+",\s+//', line)
        ]

    assert listed("status") == [{str(s) for s in BuildStatus}, {str(s) for s in RunStatus}]
    assert listed("state") == [{str(s) for s in RunState}]


SHARDS = {"cpu-env": "20261125T100000.000000Z-aaaaaa", "gpu-env": "20261125T100500.000000Z-bbbbbb"}


def two_shards() -> tuple[Results, Results]:
    """Two runs of one matrix file, each with one of its environments: they merge."""
    first, second = (
        results(
            [environment(name)],
            [case("c")],
            repeated(name, "c", [float32_value("x", 1.0)]),
            reference="cpu-env",
            run_id=run_id,
            matrix_environments=tuple(SHARDS),
        )
        for name, run_id in SHARDS.items()
    )
    merge([first, second])
    return first, second


def other(setting: Any) -> Any:
    """A value of the same kind that differs from `setting`, or None for a kind this test does not vary."""
    if isinstance(setting, Enum):
        return None
    if isinstance(setting, bool):
        return not setting
    if isinstance(setting, int):
        return setting + 1
    if isinstance(setting, str) or setting is None:
        return f"{setting or ''}-other"
    if isinstance(setting, tuple) and setting and all(isinstance(item, str) for item in setting):
        return (*setting, "other")
    if isinstance(setting, Mapping):
        return {**setting, "other": "1"}
    return None


def refused(first: Results, second: Results) -> bool:
    try:
        merge([first, second])
    except ResultsError:
        return True
    return False


def test_what_results_md_says_a_merge_compares_is_what_merge_refuses() -> None:
    """Each run setting a merge refuses to differ is named in the doc, and nothing else is; every case
    setting is compared (the doc says every setting)."""
    first, second = two_shards()
    refusing = {
        setting.name
        for setting in dataclasses.fields(Results)
        if setting.name != "run_id"  # the runs' own names: they always differ
        and (changed := other(getattr(second, setting.name))) is not None
        and refused(first, dataclasses.replace(second, **{setting.name: changed}))
    }
    merging = paragraph(text(ROOT / "docs" / "results.md"), "`--device cpu|gpu` and `--shard i/n`")
    named = {
        name
        for name in re.findall(r"`(\w+)`", merging)
        if name in {s.name for s in dataclasses.fields(Results)}
    }
    assert named == refusing
    [its_case] = second.cases
    for setting in dataclasses.fields(CaseResult):
        changed = other(getattr(its_case, setting.name))
        if setting.name == "name" or changed is None:
            continue
        differing = dataclasses.replace(
            second, cases=(dataclasses.replace(its_case, **{setting.name: changed}),)
        )
        assert refused(first, differing), f"a merge takes runs whose case {setting.name} differs"


# The workflow and docs/ci.md


def workflows() -> Iterator[tuple[Path, dict[Any, Any]]]:
    for path in WORKFLOWS:
        yield path, yaml.safe_load(text(path))


def test_ci_md_states_every_jobs_permissions_as_the_workflow_grants_them() -> None:
    ci = text(ROOT / "docs" / "ci.md")
    [(_, workflow)] = workflows()
    assert workflow["permissions"] == {}
    assert "`permissions: {}`" in ci
    table = ci[ci.index("| job | permissions |") :].split("\n\n", 1)[0]
    documented = {
        job: dict(re.findall(r"`([\w-]+): ([\w-]+)`", granted))
        for job, granted in re.findall(r"^\| `([\w-]+)`[^|]*\| (.*) \|$", table, re.MULTILINE)
    }
    assert documented == {name: job["permissions"] for name, job in workflow["jobs"].items()}


def test_every_job_is_as_ci_md_says_no_credentials_kept_and_a_time_limit() -> None:
    assert "Every job checks out with `persist-credentials: false` and has a `timeout-minutes`." in text(
        ROOT / "docs" / "ci.md"
    )
    [(_, workflow)] = workflows()
    for name, job in workflow["jobs"].items():
        assert job["timeout-minutes"] > 0, name
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


def headings(path: Path) -> set[str]:
    return set(re.findall(r"^#+ (.+?)\s*$", text(path), re.MULTILINE))


SECTION_REFERENCES = [
    (path.name, section, document)
    for path in WORKFLOWS
    for comment in re.findall(r"^\s*#(.*)$", text(path), re.MULTILINE)
    for section, document in re.findall(r'"([^"]+)" in (the README|[\w./-]+\.md)', comment)
]


@pytest.mark.parametrize(("workflow", "section", "document"), SECTION_REFERENCES)
def test_every_doc_section_a_workflow_comment_names_exists(
    workflow: str, section: str, document: str
) -> None:
    path = ROOT / ("README.md" if document == "the README" else document)
    assert path.is_file(), f"{workflow} names {document}, which does not exist"
    assert section in headings(path), f'{workflow} names section "{section}" of {document}, which has none'


def github_glob(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern: `*` any characters but `/`, `**` any characters, `?` one character."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    wildcards = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(part, re.escape(part)) for part in parts))


@pytest.mark.parametrize(
    ("pattern", "translated"),
    [
        ("seeds/**", "seeds/.*"),
        ("*.yml", "[^/]*\\.yml"),
        ("a?.py", "a[^/]\\.py"),
        (".github/**/x", "\\.github/.*/x"),
    ],
)
def test_github_globs_are_translated_as_github_reads_them(pattern: str, translated: str) -> None:
    assert github_glob(pattern).pattern == translated


def path_filters() -> list[tuple[str, str, str]]:
    found = []
    for path, workflow in workflows():
        triggers: dict[str, Any] = workflow["on" if "on" in workflow else True]  # YAML 1.1: a bare on is true
        for event, settings in triggers.items():
            if isinstance(settings, Mapping):  # `schedule` is a list
                for key in ("paths", "paths-ignore"):
                    found += [(path.name, event, pattern) for pattern in settings.get(key, [])]
    return found


@pytest.mark.parametrize(("workflow", "event", "pattern"), path_filters())
def test_every_path_filter_of_a_workflow_matches_a_tracked_file(
    workflow: str, event: str, pattern: str
) -> None:
    matching = github_glob(pattern.removeprefix("!"))
    assert any(matching.fullmatch(name) for name in tracked_files()), (
        f"{workflow}: {event} filters on {pattern}, which matches no tracked file"
    )


# The command line


def subcommands() -> dict[str, argparse.ArgumentParser]:
    [chooser] = [action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)]
    return dict(chooser.choices)


def test_ca_bundle_help_names_the_variables_the_code_reads_in_order() -> None:
    default = "the first set of " + ", ".join(f"${name}" for name in CA_BUNDLE_VARIABLES)
    helps = [
        action.help
        for command in subcommands().values()
        for action in command._actions
        if "--ca-bundle" in action.option_strings
    ]
    assert helps
    for shown in helps:
        assert f"(default: {default})" in str(shown)
    listed = ", ".join(f"`{name}`" for name in CA_BUNDLE_VARIABLES)
    assert f"| {listed} | the first that is set names the extra CA bundle" in text(
        ROOT / "docs" / "configuration.md"
    )


# nox sessions


@cache
def nox_sessions() -> frozenset[str]:
    """The sessions nox finds in noxfile.py: its registry after loading the file, as `nox -l` does."""
    loader = importlib.machinery.SourceFileLoader("noxfile", str(ROOT / "noxfile.py"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    noxfile = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)  # the noxfile reads pyproject.toml relative to where nox runs
        loader.exec_module(noxfile)
    return frozenset(nox.registry.get())


def test_the_noxfile_docstring_names_every_session() -> None:
    docstring = text(ROOT / "noxfile.py").split('"""')[1]
    assert set(re.findall(r"`(\w+)`", docstring)) == nox_sessions()


def test_the_readme_names_every_session() -> None:
    """The two commands first, then every other session in one line."""
    readme = text(ROOT / "README.md")
    two_commands = readme[readme.index("## The two commands") :].split("\n## ", 1)[0]
    first = set(re.findall(r"nox -s (\w+)", two_commands))
    assert first == {"matrix", "tests"}
    assert set(re.findall(r"nox -s (\w+)", paragraph(readme, "Other sessions:"))) == nox_sessions() - first


# CONTRIBUTING.md's layout

DESCRIPTION_COLUMN = 28


def layout() -> tuple[str, set[str]]:
    """The layout block's text and the paths it lists (nested entries under their parents)."""
    contributing = text(ROOT / "CONTRIBUTING.md")
    block = contributing[contributing.index("## Layout") :].split("```")[1]
    paths: set[str] = set()
    parents: list[str] = []
    for line in block.splitlines():
        entry = re.match(r"^( *)(\S+)(?:  |$)", line)
        if entry is None or len(entry[1]) >= DESCRIPTION_COLUMN:
            continue  # a description's continuation
        depth = len(entry[1]) // 2
        parents[depth:] = [entry[2]]
        paths.add("".join(parents))
    return block, paths


def test_every_path_the_layout_lists_is_tracked() -> None:
    _, paths = layout()
    for path in paths:
        assert path in tracked_files() or path in tracked_directories(), f"CONTRIBUTING.md lists {path}"


def test_the_layout_lists_every_top_level_directory_and_example() -> None:
    _, paths = layout()
    listed = {path.split("/")[0] + "/" for path in paths}
    assert {directory for directory in tracked_directories() if directory.count("/") == 1} <= listed
    examples = {
        directory for directory in tracked_directories() if re.fullmatch(r"examples/[^/]+/", directory)
    }
    assert examples <= paths


@pytest.mark.parametrize("folder", ["benchmarks", "scripts", "runner/seedmatrix/inside"])
def test_the_layout_names_every_file_of_the_folders_it_describes_file_by_file(folder: str) -> None:
    block, _ = layout()
    files = [name for name in tracked_files() if name.rpartition("/")[0] == folder]
    assert files
    for name in files:
        assert re.search(rf"\b{re.escape(name.rpartition('/')[2])}\b", block), f"the layout leaves out {name}"


# CONTRIBUTING.md's module table


def package_modules() -> set[str]:
    """Every module of the package by its dotted name under seedmatrix (inside/ runs in the images,
    not in the runner; a package's __init__ counts when it holds code, not just a docstring)."""
    package = ROOT / "runner" / "seedmatrix"
    names = set()
    for path in package.rglob("*.py"):
        relative = path.relative_to(package)
        if relative.parts[0] == "inside":
            continue
        if relative.name == "__init__.py":
            holds_code = len(path.read_text(encoding="utf-8").splitlines()) > 3
            if len(relative.parts) == 1 or not holds_code:
                continue
            relative = relative.parent
        names.add(".".join(relative.with_suffix("").parts))
    return names


def module_table() -> set[str]:
    contributing = text(ROOT / "CONTRIBUTING.md")
    table = paragraph(contributing, "| module | concept |")
    return {name for row in table.splitlines()[2:] for name in re.findall(r"`([a-z_.]+)`", row.split("|")[1])}


def test_the_module_table_names_every_module_and_nothing_else() -> None:
    documented, present = module_table(), package_modules()
    assert "backends.docker.images" in present  # the walk finds subpackage modules
    assert documented - present == set(), "CONTRIBUTING.md names modules that do not exist"
    assert present - documented == set(), "modules CONTRIBUTING.md's table does not name"
