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


HOSTING = "## Hosting the sandbox\n"


def split_hosting(text: str) -> tuple[str, str]:
    """The README without its hosting section, and that section (run against a hosted
    sandbox started as the section shows)."""
    start = text.index(HOSTING)
    end = text.index("\n## ", start + len(HOSTING))
    return text[:start] + text[end:], text[start:end]


def run_blocks(script: str, base: str, cwd: Path) -> list[list[str]]:
    log = cwd / "calls.log"
    result = subprocess.run(
        ["bash", "-c", WRAPPER + script.replace(DOCUMENTED_HOST, base)],
        env={"LOG": str(log), "PATH": "/usr/bin:/bin:/usr/local/bin"}, cwd=cwd,
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [line.split("\t", 1) for line in log.read_text().splitlines()]


def test_every_curl_example_runs_as_written(sandbox_process: SandboxProcess,
                                            tmp_path: Path) -> None:
    base = sandbox_process.url.split("/tmf-api/")[0]
    rest, _ = split_hosting(README.read_text(encoding="utf-8"))
    script = "\n".join(curl_blocks(rest))
    assert script.count("curl ") > 40  # the API, query, patch, hub and sink examples
    calls = run_blocks(script, base, tmp_path)
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


#: The hosting examples that demonstrate an error: a piece of the command -> its status.
HOSTED_ERRORS = {"customer/42": 503, "Prefer: code=429": 429}


def test_the_hosting_examples_run_against_a_hosted_sandbox(tmp_path: Path) -> None:
    _, section = split_hosting(README.read_text(encoding="utf-8"))
    tenants = re.search(r"```json\n(.*?)```", section, flags=re.S)
    token = re.search(r"--admin-token (\S+)", section)
    assert tenants and token
    (tmp_path / "tenants.json").write_text(tenants.group(1), encoding="utf-8")
    script = "\n".join(curl_blocks(section))
    assert script.count("curl ") >= 15
    args = ["--tenants", str(tmp_path / "tenants.json"), "--admin-token", token.group(1),
            "--quiet"]
    with SandboxProcess(db=tmp_path / "db.json", extra_args=args) as hosted:
        calls = run_blocks(script, hosted.url.split("/tmf-api/")[0], tmp_path)
    assert len(calls) == script.count("curl ")
    for status, command in calls:
        wanted = [code for piece, code in HOSTED_ERRORS.items() if piece in command]
        if "-H" not in command and "/customer" in command and "api-docs" not in command:
            wanted = [401]  # a request without a key
        if wanted:
            assert int(status) == wanted[0], command
        else:
            assert 200 <= int(status) < 300, f"{status} for: curl {command}"
