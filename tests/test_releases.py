"""A package's releases from a fake package index: a directory served over HTTP here, as a PEP 503
(HTML) and a PEP 691 (JSON) simple index."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from seedmatrix.errors import PackageIndexError
from seedmatrix.releases import Candidate, IndexFile, candidates, fits, index_url, read_index

LINUX = "manylinux_2_17_x86_64.manylinux2014_x86_64"
FILES = (
    IndexFile(filename="numpy-2.0.2.tar.gz"),
    IndexFile(filename=f"numpy-2.0.2-cp311-cp311-{LINUX}.whl", requires_python=">=3.9"),
    IndexFile(filename=f"numpy-2.1.0-cp311-cp311-{LINUX}.whl"),
    IndexFile(filename=f"numpy-2.1.1rc1-cp311-cp311-{LINUX}.whl"),
    # Only for other Pythons and platforms: pip would build it from source here.
    IndexFile(filename=f"numpy-2.1.1-cp313-cp313-{LINUX}.whl"),
    IndexFile(filename="numpy-2.1.1-cp311-cp311-macosx_14_0_arm64.whl"),
    IndexFile(filename="numpy-2.1.1-cp311-cp311-win_amd64.whl"),
    IndexFile(filename="numpy-2.1.1.tar.gz"),
    IndexFile(filename=f"numpy-2.2.0-cp311-cp311-{LINUX}.whl", yanked="broken ABI"),
    # Tagged for 3.11, but its metadata excludes it: pip would not pick it.
    IndexFile(filename=f"numpy-2.3.0-cp311-cp311-{LINUX}.whl", requires_python=">=3.12"),
    IndexFile(filename="numpy-2.3.1.tar.gz"),
    IndexFile(filename=f"numpy-2.4.0-cp311-abi3-{LINUX}.whl"),
    IndexFile(filename=f"numpy-2.4.6-cp311-cp311-{LINUX}.whl"),
    IndexFile(filename=f"numpy-2.5.0-cp311-cp311-{LINUX}.whl"),
)


def html_page(files: tuple[IndexFile, ...]) -> str:
    anchors = []
    for file in files:
        attributes = f' href="../../files/{file.filename}#sha256=00"'
        if file.requires_python:
            attributes += f' data-requires-python="{file.requires_python.replace(">", "&gt;")}"'
        if file.yanked is not None:
            attributes += f' data-yanked="{file.yanked}"'
        anchors.append(f"<a{attributes}>{file.filename}</a><br/>")
    return "<!DOCTYPE html><html><body>" + "\n".join(anchors) + "</body></html>"


def json_page(files: tuple[IndexFile, ...]) -> str:
    return json.dumps(
        {
            "meta": {"api-version": "1.0"},
            "name": "numpy",
            "files": [
                {
                    "filename": file.filename,
                    "url": f"../../files/{file.filename}",
                    "hashes": {},
                    **({"requires-python": file.requires_python} if file.requires_python else {}),
                    **({"yanked": file.yanked or True} if file.yanked is not None else {}),
                }
                for file in files
            ],
        }
    )


class _Index(SimpleHTTPRequestHandler):
    """A directory server that answers PEP 691 JSON where a project has index.json and the client
    asks for it (as pip does), HTML otherwise."""

    def do_GET(self) -> None:
        page = Path(self.translate_path(self.path)) / "index.json"
        if page.is_file() and "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", ""):
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A served directory: (the simple index's URL, its root on disk)."""
    root = tmp_path / "index"
    (root / "simple").mkdir(parents=True)

    def handler(*args: Any) -> _Index:
        return _Index(*args, directory=str(root))

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/", root
    finally:
        server.shutdown()
        server.server_close()


def publish(root: Path, files: tuple[IndexFile, ...], *, as_json: bool) -> None:
    project = root / "simple" / "numpy"
    project.mkdir(parents=True, exist_ok=True)
    (project / "index.html").write_text(html_page(files), encoding="utf-8")
    if as_json:
        (project / "index.json").write_text(json_page(files), encoding="utf-8")


EXPECTED = (
    Candidate(version="2.0.2"),
    Candidate(version="2.1.0"),
    Candidate(
        version="2.1.1", skipped="no wheel for CPython 3.11 on Linux x86-64 (3 other wheel(s) on the index)"
    ),
    Candidate(version="2.2.0", skipped="yanked: broken ABI"),
    Candidate(
        version="2.3.0", skipped="no wheel for CPython 3.11 on Linux x86-64 (1 other wheel(s) on the index)"
    ),
    Candidate(
        version="2.3.1", skipped="no wheel on the index (pip would build numpy-2.3.1.tar.gz from source)"
    ),
    Candidate(version="2.4.0"),
    Candidate(version="2.4.6"),
)


@pytest.mark.parametrize("as_json", [False, True], ids=["pep503-html", "pep691-json"])
def test_releases_between_the_ends_each_skipped_with_why_it_cannot_be_probed(
    index: tuple[str, Path], as_json: bool
) -> None:
    url, root = index
    publish(root, FILES, as_json=as_json)
    files = read_index("NumPy", index=url, ca_bundle=None)  # names are normalised as pip does
    assert set(files) == set(FILES)
    assert candidates(files, good="2.0.2", bad="2.4.6", python="3.11") == EXPECTED


def test_pre_releases_only_when_asked(index: tuple[str, Path]) -> None:
    url, root = index
    publish(root, FILES, as_json=False)
    files = read_index("numpy", index=url, ca_bundle=None)
    with_pre = candidates(files, good="2.0.2", bad="2.1.1", python="3.11", pre=True)
    assert [c.version for c in with_pre] == ["2.0.2", "2.1.0", "2.1.1rc1", "2.1.1"]
    assert with_pre[2].skipped == ""
    # An end that is a pre-release is always a candidate.
    assert [c.version for c in candidates(files, good="2.1.0", bad="2.1.1rc1", python="3.11")] == [
        "2.1.0",
        "2.1.1rc1",
    ]


def test_another_python_sees_other_wheels() -> None:
    assert candidates(FILES, good="2.1.0", bad="2.1.1", python="3.13") == (
        Candidate(
            version="2.1.0",
            skipped="no wheel for CPython 3.13 on Linux x86-64 (1 other wheel(s) on the index)",
        ),
        Candidate(version="2.1.1"),
    )


def test_an_abi3_or_pure_python_wheel_fits() -> None:
    assert fits(IndexFile(filename="pkg-1.0-py3-none-any.whl"), "3.11")
    assert fits(IndexFile(filename=f"pkg-1.0-cp39-abi3-{LINUX}.whl"), "3.11")  # abi3 from 3.9 on
    assert fits(IndexFile(filename=f"pkg-1.0-cp312-abi3-{LINUX}.whl"), "3.11") is False
    assert fits(IndexFile(filename="pkg-1.0-cp311-cp311-manylinux_2_34_x86_64.whl"), "3.11") is False
    assert fits(IndexFile(filename="pkg-1.0-cp311-cp311-musllinux_1_1_x86_64.whl"), "3.11") is False
    assert fits(IndexFile(filename="pkg-1.0-cp311-cp311-manylinux2014_aarch64.whl"), "3.11") is False
    assert fits(IndexFile(filename="pkg-1.0-cp311-cp311-manylinux2014_aarch64.whl"), "3.11", "aarch64")
    assert fits(IndexFile(filename=f"pkg-1.0-cp311-cp311-{LINUX}.whl"), "3.11", "aarch64") is False


def test_a_package_the_index_lacks_is_a_clear_error(index: tuple[str, Path]) -> None:
    url, _ = index
    with pytest.raises(PackageIndexError, match=r"the package index has no 'nunpy'"):
        read_index("nunpy", index=url, ca_bundle=None)


def test_an_index_that_cannot_be_reached_is_a_clear_error() -> None:
    with pytest.raises(PackageIndexError, match=r"cannot read http://127\.0\.0\.1:9/simple/numpy/"):
        read_index("numpy", index="http://127.0.0.1:9/simple", ca_bundle=None)


@pytest.mark.parametrize(
    ("good", "bad", "message"),
    [
        ("2.4.6", "2.0.2", r"--bad 2\.0\.2 is older than --good 2\.4\.6"),
        ("2.0.1", "2.4.6", r"--good 2\.0\.1 is not a release the package index lists"),
        ("2.0.2", "2.4.7", r"--bad 2\.4\.7 is not a release"),
    ],
)
def test_ends_the_index_does_not_have_are_refused(good: str, bad: str, message: str) -> None:
    with pytest.raises(PackageIndexError, match=message):
        candidates(FILES, good=good, bad=bad, python="3.11")


def test_good_equal_to_bad_is_one_candidate() -> None:
    assert candidates(FILES, good="2.1.0", bad="2.1.0", python="3.11") == (Candidate(version="2.1.0"),)


def test_the_index_is_pips() -> None:
    assert index_url({"PIP_INDEX_URL": "https://mirror.example/simple"}) == "https://mirror.example/simple"
    assert index_url({}) == "https://pypi.org/simple/"
