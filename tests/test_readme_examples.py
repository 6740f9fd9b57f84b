"""The README's curl examples run as written, in order, against a real sandbox process.

Every ``bash`` block of the README that calls ``curl`` is run in one shell, in
the order a reader meets them, with ``curl`` wrapped so that each call's status
is recorded. The examples that show an error must get that error (a read of
what an example has just deleted is a 404); every other must succeed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from ctk_runner.embedded import SandboxProcess

README = Path(__file__).resolve().parents[1] / "README.md"
DOCUMENTED_HOST = "http://127.0.0.1:8629"

#: The examples that demonstrate an error: a piece of the command -> its status.
EXPECTED_ERRORS = {
    "creditScore.gte=high": 400,
    "name.like=Moon": 400,
    "startDateTime.lt=soon": 400,
    "preferred.gt=true": 400,
    "Content-Type: text/plain": 415,
}

WRAPPER = r"""
set -u -o pipefail
curl() {
    local out args="$*"
    args=${args//$'\n'/ }
    out=$(command curl -sS -w '\n%{http_code}' "$@") || { echo "000	$args" >> "$LOG"; return 1; }
    printf '%s\t%s\n' "${out##*$'\n'}" "$args" >> "$LOG"
    printf '%s' "${out%$'\n'*}"
}
"""


def curl_blocks(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [block for block in blocks if "curl " in block]


def test_every_curl_example_runs_as_written(sandbox_process: SandboxProcess,
                                            tmp_path: Path) -> None:
    base = sandbox_process.url.split("/tmf-api/")[0]
    script = "\n".join(curl_blocks(README.read_text(encoding="utf-8")))
    assert script.count("curl ") > 40  # the API, query, patch, hub and sink examples
    log = tmp_path / "calls.log"
    result = subprocess.run(
        ["bash", "-c", WRAPPER + script.replace(DOCUMENTED_HOST, base)],
        env={"LOG": str(log), "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    calls = [line.split("\t", 1) for line in log.read_text().splitlines()]
    assert len(calls) == script.count("curl ")
    deleted: set[str] = set()
    for status, command in calls:
        wanted = [code for piece, code in EXPECTED_ERRORS.items() if piece in command]
        url = command.split()[-1]
        if "-X DELETE" in command:
            deleted.add(url)
        elif "-X" not in command and url in deleted:
            wanted = [404]  # reading what an example has just deleted
        if wanted:
            assert int(status) == wanted[0], command
        else:
            assert 200 <= int(status) < 300, f"{status} for: curl {command}"
