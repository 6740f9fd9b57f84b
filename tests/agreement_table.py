"""Print the agreement tables of docs/harness/agreement.md: Newman and ctk-runner on the
sandbox and every stand-in.

Run from the repository root: ``python tests/agreement_table.py``. It uses
the same targets, Newman and comparison as tests/test_ctk_newman.py and
prints one Markdown row per target with both tools' verdicts and counts;
then, per target, the strict profile's findings beyond the kit (each with its
rule's source), judged true or false against ``TRUE_FINDINGS`` (what each
stand-in's fault truly deserves, the missing /hub included).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import newman_kit  # noqa: E402
import test_ctk_newman as comparison  # noqa: E402
from ctk_kit_standins import STANDINS, TIMEOUT_SECONDS, TRUE_FINDINGS  # noqa: E402


def _cell(verdict: newman_kit.Verdict) -> str:
    return (f"{'FAIL' if verdict.failed else 'PASS'} | {verdict.requests} "
            f"({verdict.failed_requests}) | {verdict.assertions} | {verdict.failed_assertions} "
            f"| {verdict.failed_test_scripts}")


def main() -> int:
    executable = newman_kit.newman_executable()
    if executable is None:
        print("Newman needs node and npm", file=sys.stderr)
        return 2
    where = Path(tempfile.mkdtemp(prefix="agreement-"))
    with contextlib.ExitStack() as stack:
        roots = [stack.enter_context(comparison.target(n)) for n in comparison.TARGETS]
        newman = newman_kit.run_newman(
            executable, [(root, where / f"{name}.json")
                         for name, root in zip(comparison.TARGETS, roots, strict=True)],
            int(TIMEOUT_SECONDS * 1000))
    print("| target | what it breaks | Newman: verdict | requests (failed) | assertions | failed"
          " | failed scripts | ctk-runner: verdict | requests (failed) | assertions | failed"
          " | failed scripts | same per-request outcomes |")
    print("|---" * 13 + "|")
    for name, expected in zip(comparison.TARGETS, newman, strict=True):
        with comparison.target(name) as root:
            actual = comparison.run_ctk_runner(root, where / name, "published")
        same = newman_kit.outcomes(actual) == newman_kit.outcomes(expected)
        what = STANDINS[name][0] if name in STANDINS else "nothing (the bundled sandbox)"
        print(f"| {name} | {what} | {_cell(newman_kit.verdict(expected))} | "
              f"{_cell(newman_kit.verdict(actual))} | {'yes' if same else 'NO'} |")
    print()
    print("| target | strict findings beyond the kit (rule source) | judged |")
    print("|---|---|---|")
    for name in comparison.TARGETS:
        with comparison.target(name) as root:
            found = comparison.strict_findings(root, where / f"{name}-strict")
        true = TRUE_FINDINGS[name] | ({comparison.HUB} if name != "sandbox" else set())
        cells = "; ".join(f"{finding} (`{source}`)" for finding, source in sorted(
            found.items(), key=lambda item: (item[0] != comparison.HUB, item[0])))
        false = sorted(set(found) - true)
        judged = (f"FALSE: {', '.join(false)}" if false else
                  f"all {len(found)} true" if found else "nothing to judge")
        print(f"| {name} | {cells or 'none'} | {judged} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
