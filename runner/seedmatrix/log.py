"""The one output object: steps and progress for people on stderr, the job summary for GitHub.

rich decides on colour (it honours NO_COLOR, FORCE_COLOR and TTY detection); reports and results
go to files, never to this stream.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Bar:
    """Steps of one kind of work; its total may grow while it runs (runs join as images are ready)."""

    def __init__(self, description: str, total: int, *, on_step: Callable[[Bar, str], None]) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._on_step = on_step
        self._lock = threading.Lock()  # steps come from worker threads

    def advance(self, last: str) -> None:
        with self._lock:
            self.done += 1
            self._on_step(self, last)

    def grow(self, steps: int) -> None:
        with self._lock:
            self.total += steps
            self._on_step(self, "")


class Output:
    def __init__(self, *, env: Mapping[str, str]) -> None:
        self._summary_path = env.get("GITHUB_STEP_SUMMARY")
        self._on_github = env.get("GITHUB_ACTIONS") == "true"
        # A workflow's log is never a terminal: where a runner gives one (act's host runner does),
        # a live display would put its cursor codes on the line an annotation starts, which is then
        # no workflow command.
        terminal = False if self._on_github else None  # None: rich decides
        self.console = Console(stderr=True, highlight=False, force_terminal=terminal)

    def step(self, text: str) -> None:
        self.console.print(f"[bold cyan]▸[/] {text}")

    def note(self, text: str) -> None:
        self.console.print(f"  {text}", style="dim")

    def warn(self, text: str) -> None:
        self.console.print(f"[bold yellow]![/] {text}")

    def error(self, text: str) -> None:
        self.console.print(f"[bold red]error:[/] {text}")

    @contextmanager
    def progress(self, *bars: tuple[str, int]) -> Iterator[tuple[Bar, ...]]:
        """Bars of (description, total) steps shown together; each says what just finished.

        Off a terminal (CI logs, pipes) a bar would only show at the end, so each step is a line.
        """
        if not self.console.is_terminal:
            yield tuple(Bar(description, total, on_step=self._step_line) for description, total in bars)
            return
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}", style="dim"),
            console=self.console,
        ) as shown:

            def step(bar: Bar, last: str) -> None:
                task = tasks[bar.description]
                shown.update(task, completed=bar.done, total=bar.total)
                if last:  # growing keeps what last finished shown
                    shown.update(task, last=last)

            tasks = {
                description: shown.add_task(description, total=total, last="") for description, total in bars
            }
            yield tuple(Bar(description, total, on_step=step) for description, total in bars)

    def _step_line(self, bar: Bar, last: str) -> None:
        if last:
            self.console.print(f"  {bar.description} {bar.done}/{bar.total}: {last}")

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
