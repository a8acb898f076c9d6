"""The one output object: steps and progress for people on stderr, the job summary for GitHub.

rich decides on colour (it honours NO_COLOR, FORCE_COLOR and TTY detection); reports and results
go to files, never to this stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Output:
    def __init__(self, *, env: Mapping[str, str]) -> None:
        self.console = Console(stderr=True, highlight=False)
        self._summary_path = env.get("GITHUB_STEP_SUMMARY")
        self._on_github = env.get("GITHUB_ACTIONS") == "true"

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]▸[/] {text}")

    def note(self, text: str) -> None:
        self.console.print(f"  {text}", style="dim")

    def warn(self, text: str) -> None:
        self.console.print(f"[bold yellow]![/] {text}")

    def error(self, text: str) -> None:
        self.console.print(f"[bold red]error:[/] {text}")

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator[Callable[[str], None]]:
        """A bar of `total` steps; the yielded function advances it and says what just finished.

        Off a terminal (CI logs, pipes) a bar would only show at the end, so each step is a line.
        """
        if not self.console.is_terminal:
            done = 0

            def line(last: str) -> None:
                nonlocal done
                done += 1
                self.console.print(f"  {description} {done}/{total}: {last}")

            yield line
            return
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}", style="dim"),
            console=self.console,
        ) as bar:
            task = bar.add_task(description, total=total, last="")

            def advance(last: str) -> None:
                bar.update(task, advance=1, last=last)

            yield advance

    def github_annotations(self, commands: Iterable[str]) -> None:
        """Workflow commands (annotations) on stdout, where GitHub Actions reads them; nowhere else."""
        if self._on_github:
            for command in commands:
                print(command, flush=True)

    def github_summary(self, markdown: str) -> None:
        """Append to the GitHub Actions job summary when running there."""
        if self._summary_path:
            with Path(self._summary_path).open("a", encoding="utf-8") as stream:
                stream.write(markdown)
