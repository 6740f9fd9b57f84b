"""Number formats and small shared helpers of the reporters.

Durations and sizes are printed the way Newman prints them (``82ms``,
``9.3s``, ``1m 37.1s``, ``149B``, ``17.18KB``), so the harness's report and a
kit report can be read side by side.
"""

from __future__ import annotations

from urllib.parse import unquote

from ctk_runner import __version__
from ctk_runner.auth import SECRET_HEADER

GENERATOR = f"ctk-runner {__version__}"

# Header values that must not end up in a report shared with a certifier.
_SECRET_HEADER = SECRET_HEADER


def format_duration(ms: float) -> str:
    if ms < 1000:
        return f"{round(ms)}ms"
    seconds = ms / 1000.0
    if seconds < 60:
        return _trim(f"{seconds:.1f}") + "s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m {_trim(f'{rest:.1f}')}s"


def format_size(size: float) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{round(size)}B" if unit == "B" else _trim(f"{size:.2f}") + unit
        size /= 1024
    raise AssertionError("unreachable")


def _trim(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number


def display_url(url: str) -> str:
    """The URL as Newman shows it: query values decoded (``name=Moon Football Club``)."""
    return unquote(url)


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    """Hide credentials in recorded request headers."""
    return {k: ("***" if _SECRET_HEADER.search(k) else v) for k, v in headers.items()}
