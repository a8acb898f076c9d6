"""A package's releases between two versions, from the package index pip uses (its simple API).

The index is asked for JSON (PEP 691) and read as HTML (PEP 503) when it answers that; pip's own
index (PIP_INDEX_URL) and CA bundle apply, so a host behind a TLS-intercepting proxy reads it the
way pip does. A release without a wheel for the environment's Python (on Linux, for its platform's
machine), or only yanked files, is a candidate that is skipped with that reason, never probed: an
image build would try to compile it from source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from packaging import tags
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from .errors import PackageIndexError

DEFAULT_INDEX = "https://pypi.org/simple/"
INDEX_TIMEOUT_SECONDS = 60
_JSON = "application/vnd.pypi.simple.v1+json"
_OLDEST_GLIBC_MINOR = 31  # Debian bullseye's glibc 2.31, the oldest base seedmatrix builds


@dataclass(frozen=True, kw_only=True)
class IndexFile:
    filename: str
    requires_python: str | None = None
    yanked: str | None = None  # the reason given, '' when yanked without one; None when not yanked


@dataclass(frozen=True, kw_only=True)
class Candidate:
    version: str
    skipped: str = ""  # why it cannot be probed here ('' when it can)


def index_url(environ: Mapping[str, str]) -> str:
    return environ.get("PIP_INDEX_URL") or DEFAULT_INDEX


def read_index(
    package: str, *, index: str, ca_bundle: Path | None, session: requests.Session | None = None
) -> tuple[IndexFile, ...]:
    """Every file the index lists for `package`."""
    url = urljoin(index if index.endswith("/") else index + "/", f"{canonicalize_name(package)}/")
    http = session or requests.Session()
    try:
        response = http.get(
            url,
            headers={"Accept": f"{_JSON}, text/html;q=0.1"},
            timeout=INDEX_TIMEOUT_SECONDS,
            verify=str(ca_bundle) if ca_bundle is not None else True,
        )
    except requests.RequestException as error:
        raise PackageIndexError(f"cannot read {url}: {error}") from None
    if response.status_code == 404:
        raise PackageIndexError(f"the package index has no {package!r} ({url})")
    if not response.ok:
        raise PackageIndexError(f"cannot read {url}: HTTP {response.status_code}")
    if response.headers.get("Content-Type", "").split(";")[0].strip() == _JSON:
        return _from_json(response.json(), url)
    return _from_html(response.text)


def _from_json(document: Any, url: str) -> tuple[IndexFile, ...]:
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise PackageIndexError(f"{url} answered JSON without a list of files")
    found = []
    for entry in document["files"]:
        yanked = entry.get("yanked", False)
        found.append(
            IndexFile(
                filename=str(entry["filename"]),
                requires_python=entry.get("requires-python") or None,
                yanked=(yanked if isinstance(yanked, str) else "") if yanked else None,
            )
        )
    return tuple(found)


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[IndexFile] = []
        self._attributes: dict[str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attributes, self._text = dict(attrs), ""

    def handle_data(self, data: str) -> None:
        if self._attributes is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._attributes is not None:
            attributes, self._attributes = self._attributes, None
            href = attributes.get("href") or ""
            name = self._text.strip() or href.split("#")[0].rsplit("/", 1)[-1]
            yanked = attributes.get("data-yanked")
            self.files.append(
                IndexFile(
                    filename=name,
                    requires_python=attributes.get("data-requires-python") or None,
                    yanked=None if "data-yanked" not in attributes else (yanked or ""),
                )
            )


def _from_html(text: str) -> tuple[IndexFile, ...]:
    parser = _Anchors()
    parser.feed(text)
    return tuple(parser.files)


def file_version(filename: str) -> Version | None:
    """The release a wheel or source distribution belongs to; None for what is neither."""
    if filename.endswith(".whl"):
        try:
            return parse_wheel_filename(filename)[1]
        except (InvalidWheelFilename, InvalidVersion):
            return None
    for ending in (".tar.gz", ".zip"):
        if filename.endswith(ending):
            try:
                return Version(filename[: -len(ending)].rsplit("-", 1)[-1])
            except InvalidVersion:
                return None
    return None


def fits(file: IndexFile, python: str, machine: str = "x86_64") -> bool:
    """Whether pip would install this wheel on the environment's Python (CPython on Linux, on
    `machine`: x86_64 or aarch64, as the environment's platform says)."""
    if not file.filename.endswith(".whl") or file.yanked is not None:
        return False
    try:
        wheel_tags = parse_wheel_filename(file.filename)[3]
    except (InvalidWheelFilename, InvalidVersion):
        return False
    if file.requires_python is not None:
        try:
            if Version(python) not in SpecifierSet(file.requires_python):
                return False
        except (InvalidSpecifier, InvalidVersion):
            pass  # pip ignores a requires-python it cannot read; so does this
    return not wheel_tags.isdisjoint(_supported(python, machine))


def _supported(python: str, machine: str) -> frozenset[tags.Tag]:
    """The tags pip accepts for CPython `python` on the images' oldest glibc (Debian bullseye's
    2.31): a wheel only for a newer glibc is skipped, never probed on a base it may not fit."""
    major, minor = (int(part) for part in python.split("."))
    platforms = [
        *(f"manylinux_2_{glibc}_{machine}" for glibc in range(_OLDEST_GLIBC_MINOR, 4, -1)),
        *(
            f"manylinux2014_{machine}",
            f"manylinux2010_{machine}",
            f"manylinux1_{machine}",
            f"linux_{machine}",
        ),
    ]
    return frozenset(
        [
            *tags.cpython_tags((major, minor), platforms=platforms),
            *tags.compatible_tags((major, minor), platforms=platforms),
        ]
    )


def candidates(
    files: Sequence[IndexFile],
    *,
    good: str,
    bad: str,
    python: str,
    pre: bool = False,
    machine: str = "x86_64",
) -> tuple[Candidate, ...]:
    """The releases from `good` to `bad` (both included, in version order): pre-releases only with
    `pre` (the ends always), each skipped with the reason where no wheel fits `python`."""
    low, high = Version(good), Version(bad)
    if high < low:
        raise PackageIndexError(f"--bad {bad} is older than --good {good}")
    by_version: dict[Version, list[IndexFile]] = {}
    for file in files:
        version = file_version(file.filename)
        if version is not None:
            by_version.setdefault(version, []).append(file)
    for end, given in ((low, "--good"), (high, "--bad")):
        if end not in by_version:
            raise PackageIndexError(f"{given} {end} is not a release the package index lists")
    chosen = sorted(
        version
        for version in by_version
        if low <= version <= high and (pre or not version.is_prerelease or version in {low, high})
    )
    return tuple(Candidate(version=str(v), skipped=_why_not(by_version[v], python, machine)) for v in chosen)


_SPOKEN = {"x86_64": "x86-64"}  # as people write it; aarch64 is aarch64


def _why_not(files: Sequence[IndexFile], python: str, machine: str) -> str:
    if any(fits(file, python, machine) for file in files):
        return ""
    if files and all(file.yanked is not None for file in files):
        reasons = sorted({file.yanked for file in files if file.yanked})
        return "yanked" + (f": {'; '.join(reasons)}" if reasons else "")
    wheels = [file.filename for file in files if file.filename.endswith(".whl")]
    return (
        f"no wheel for CPython {python} on Linux {_SPOKEN.get(machine, machine)} ({len(wheels)} other "
        "wheel(s) on the index)"
        if wheels
        else f"no wheel on the index (pip would build {files[0].filename} from source)"
    )
