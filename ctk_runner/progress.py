"""What the CLI prints while it runs: request lines, a progress bar, quiet and JSON modes.

One block of lines per request as it is evaluated (as before); on a terminal
a :mod:`tqdm` bar below them counts the requests; ``--quiet`` keeps only the
verdict line and errors; ``--json-summary FILE`` (``-``: standard output,
which implies ``--quiet``) writes a small machine-readable verdict for CI.

Everything the process prints goes through :class:`MaskingStream`, so no
registered secret reaches the console, whoever prints it (pytest included).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from ctk_runner.auth import Secrets
from ctk_runner.baseline import Diff
from ctk_runner.config import Settings
from ctk_runner.model import Event, ExecutionFinished, Run


class MaskingStream(io.TextIOBase):
    """A text stream that masks secrets on their way to ``target``."""

    def __init__(self, target: TextIO, secrets: Secrets) -> None:
        self.target = target
        self.secrets = secrets

    def write(self, text: str) -> int:
        self.target.write(self.secrets.mask(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"


@contextlib.contextmanager
def masked_console(secrets: Secrets) -> Iterator[None]:
    """Mask the run's secrets in everything printed, whoever prints it."""
    saved = sys.stdout, sys.stderr
    sys.stdout = MaskingStream(saved[0], secrets)
    sys.stderr = MaskingStream(saved[1], secrets)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def deployment_lines(settings: Settings) -> list[str]:
    """The console lines about retries and the run id, after the summary (each retry was
    printed as it happened, before its wait: here only their count)."""
    deployment = settings.deployment
    notes = deployment.runtime.pacing.notes
    lines = [f"Retries: {len(notes)} answers retried or given up (listed above and in the "
             "report)"] if notes else []
    if deployment.tag:
        lines.append(f"Run id: {deployment.run_id} (characteristic ctkRunId of every created "
                     "customer)")
    return lines


def expected_requests(settings: Settings) -> int:
    """How many requests the run will send (the bar's total)."""
    from ctk_runner.kit.builds import load
    from ctk_runner.notifications.folder import SCENARIOS as NOTIFICATION_REQUESTS
    from ctk_runner.strict.x1 import SCENARIOS as X1_REQUESTS

    if settings.api == "v5":
        from ctk_runner.v5 import events, folder

        strict = settings.profile == "strict" or settings.notifications
        return (0 if settings.notifications else len(folder.SCENARIOS)) + (
            len(events.SCENARIOS) if strict else 0)
    count = 0 if settings.notifications else len(load(settings.kit).scenarios)
    if settings.profile == "strict" and not settings.notifications:
        count += len(X1_REQUESTS)
    if settings.profile == "strict" or settings.notifications:
        count += len(NOTIFICATION_REQUESTS)
    return count


class Progress:
    """The CLI's console: request lines, the bar, summary lines, quiet mode."""

    def __init__(self, *, quiet: bool, total: int | None,
                 stream: TextIO | None = None, bar_stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stdout
        bar_out = bar_stream or sys.stderr
        self.bar: Any = None
        if not quiet and self.stream.isatty() and bar_out.isatty():
            self.bar = tqdm(total=total, file=bar_out, unit="req", leave=False,
                            dynamic_ncols=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                            "requests [{elapsed}]")

    def line(self, text: str) -> None:
        """A progress line of one request (not in quiet mode)."""
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        """A run listener: one step of the bar per evaluated request."""
        if self.bar is not None and isinstance(event, ExecutionFinished):
            self.bar.update(1)

    def summary(self, lines: list[str]) -> None:
        self.close()
        for text in lines:
            self.line(text)

    def verdict(self, text: str) -> None:
        """The last line, printed even in quiet mode (unless standard output holds JSON)."""
        self.close()
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def json_summary(settings: Settings, run: Run, exit_code: int, reports: Mapping[str, Path],
                 diff: Diff | None) -> dict[str, Any]:
    """The ``--json-summary`` document: verdict, counts, failures, clean-up, diff counts."""
    stats = run.stats()
    failures = run.problems("failed")
    return {
        "verdict": {0: "passed", 1: "failed"}.get(exit_code, "error"),
        "exitCode": exit_code,
        "target": run.target,
        "profile": run.profile,
        "runId": settings.deployment.run_id,
        "requests": {"total": stats["requests"].total, "failed": stats["requests"].failed},
        "assertions": {"total": stats["assertions"].total, "failed": stats["assertions"].failed},
        "warnings": len(run.problems("warning")),
        "skipped": len(run.problems("skipped")),
        "preflight": list(run.preflight),
        "failures": [{"request": f"{p.execution.scenario.folder} {p.execution.scenario.name}",
                      "assertion": p.name, "message": p.message, "source": p.source,
                      "severity": p.severity} for p in failures[:100]],
        "retries": len(settings.deployment.runtime.pacing.notes),
        "cleanup": {"deleted": sum(1 for c in run.cleanup if c.ok),
                    "leftovers": [{"customer": c.subject, "url": c.url, "message": c.message}
                                  for c in run.cleanup if not c.ok]},
        "diff": diff.as_json()["summary"] if diff is not None else None,
        "newFailures": len(diff.new_failures()) if diff is not None else None,
        "reports": {name: str(path) for name, path in reports.items()},
    }


def write_json_summary(target: str, data: dict[str, Any], stream: TextIO | None = None) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if target == "-":
        (stream or sys.stdout).write(text)
        (stream or sys.stdout).flush()
    else:
        Path(target).write_text(text, encoding="utf-8")
