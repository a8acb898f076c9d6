"""docs/results.md lists MATRIX.md's sections as the report package renders them (report.SECTIONS)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

from seedmatrix.report import SECTIONS, derive
from seedmatrix.results import Results, decode

ROOT = Path(__file__).resolve().parent.parent


def documented_sections() -> list[str]:
    text = (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    paragraph = next(part for part in text.split("\n\n") if part.startswith("The summary comes first, then"))
    return re.findall(r"\*\*([^*]+)\*\*", paragraph.replace("\n", " "))


def test_results_md_lists_every_section_in_order() -> None:
    assert documented_sections() == [section.title for section in SECTIONS if section.title]


def test_each_section_is_headed_by_its_title() -> None:
    path = next((ROOT / "docs" / "evidence").glob("*/results.json.gz"))
    results = decode(Results, gzip.decompress(path.read_bytes()), source=str(path))
    verdicts = derive(results, (results, "itself"))
    rendered = {section.title: section.render(results, verdicts) for section in SECTIONS}
    assert rendered[""].startswith("# Seed reproducibility matrix\n")
    shown = [title for title, text in rendered.items() if title and text]
    assert len(shown) >= 5  # the matrix, divergences, baseline, environments, cases at least
    for title in shown:
        assert rendered[title].startswith(f"## {title}\n"), title
