"""The documentation's shell examples: run them in page order, check what each page shows.

A page's ``bash`` blocks that call ``curl`` run in one shell, in the order a
reader meets them, with ``curl`` wrapped so that each call's status and output
are recorded. Under a call, lines starting with ``#=>`` show what comes back;
each must hold for the call's real output:

- ``#=> 14 customers: Aino Mäkelä, Åsa Lindström, …``: the body is a JSON
  array of 14 items whose first ``name`` values are those (``…``: more follow);
  ``#=> 2 items`` counts only;
- any other text is a fragment of the output (headers with ``curl -i``), where
  ``…`` stands for anything (a generated id, the rest of a long body).

A call whose lines show an error (an ``HTTP/1.1 4xx`` line, or an Error body
with its ``"status"``) must answer that status; every other call a 2xx. Every
call must show something. Run as a script, ``python tests/docs_examples.py
PAGE.md`` (re)writes a page's ``#=>`` lines from a fresh sandbox's answers.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED_HOST = "http://127.0.0.1:8629"
#: Shown lines may write the API root as the examples do.
API_ROOT = f"{DOCUMENTED_HOST}/tmf-api/customerManagement/v4"
SHOWN = "#=> "
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
COUNTED = re.compile(r"^(\d+) (customers?|items?)(?:: (.*))?$")
HEADERS_SHOWN = ("location", "x-total-count", "x-result-count", "link", "allow", "accept-patch",
                 "retry-after", "content-type")

WRAPPER = r"""
set -u -o pipefail
curl() {
    # A file per call: calls inside $(...) run in subshells, so no counter would survive.
    local out args="$*" code file
    args=${args//$'\n'/ }
    file=$(mktemp "$LOG.XXXXXXXX")
    out=$(command curl -sS -w '\n%{http_code}' "$@") || {
        printf '000\t%s\t%s\n' "$file" "$args" >> "$LOG"; return 1; }
    code=${out##*$'\n'}
    out=${out%$'\n'*}
    printf '%s' "$out" > "$file"
    printf '%s\t%s\t%s\n' "$code" "$file" "$args" >> "$LOG"
    printf '%s' "$out"
}
"""


@dataclass
class Call:
    """One ``curl`` of a page, with the lines the page shows under it."""

    command: str
    shown: list[str] = field(default_factory=list)
    status: int = 0
    output: str = ""


def pages_in_order() -> list[Path]:
    """The site's pages in the navigation's order (mkdocs.yml)."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:\n", 1)[1]
    return [ROOT / "docs" / name for name in re.findall(r":\s*(\S+\.md)\s*$", nav, flags=re.M)]


def curl_blocks(text: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [block for block in blocks if "curl " in block]


def _code(line: str) -> str:
    """A line without its trailing comment (roughly: enough for examples)."""
    return line.split(" # ", 1)[0] if not line.lstrip().startswith("#") else ""


def calls_of(script: str) -> list[Call]:
    """The curl calls of ``script`` in order, each with its ``#=>`` lines."""
    calls: list[Call] = []
    for line in script.splitlines():
        stripped = line.strip()
        if stripped.startswith(SHOWN.strip()):
            assert calls, f"a '#=>' line before any curl: {line}"
            calls[-1].shown.append(stripped[len(SHOWN.strip()):].strip())
            continue
        for _ in range(_code(line).count("curl ")):
            calls.append(Call(stripped))
    return calls


def run_script(script: str, base: str, cwd: Path) -> list[tuple[int, str, str]]:
    """Run ``script`` against ``base``: (status, arguments, output) of every curl call."""
    log = cwd / "calls.log"
    log.unlink(missing_ok=True)
    result = subprocess.run(
        ["bash", "-c", WRAPPER + script.replace(DOCUMENTED_HOST, base)],
        env={"LOG": str(log), "PATH": "/usr/bin:/bin:/usr/local/bin"}, cwd=cwd,
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answers = []
    for line in log.read_text(encoding="utf-8").splitlines():
        status, file, args = line.split("\t", 2)
        output = Path(file).read_text(encoding="utf-8").replace("\r", "")
        answers.append((int(status), args, output.replace(base, DOCUMENTED_HOST)))
    return answers


def split_answer(output: str) -> tuple[list[str], str]:
    """Header lines (with ``curl -i``) and the body."""
    if output.startswith("HTTP/"):
        head, _, body = output.partition("\n\n")
        return head.splitlines(), body
    return [], output


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def fragment_holds(fragment: str, output: str) -> bool:
    """Whether the pieces of ``fragment`` between ``…`` occur in ``output`` in order."""
    text, position = _squash(output), 0
    for piece in (_squash(p) for p in fragment.split("…")):
        if not piece:
            continue
        found = text.find(piece, position)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def counted_holds(match: re.Match[str], body: str) -> bool:
    try:
        items = json.loads(body)
    except ValueError:
        return False
    if not isinstance(items, list) or len(items) != int(match.group(1)):
        return False
    if match.group(3) is None:
        return True
    names = [n.strip() for n in match.group(3).split(",")]
    more = names[-1] == "…"
    names = names[:-1] if more else names
    actual = [str(item.get("name")) for item in items if isinstance(item, dict)]
    return actual[:len(names)] == names and (more or len(actual) == len(names))


def expected_status(shown: list[str]) -> int | None:
    """The error status a call's lines show, if any (None: a 2xx)."""
    for line in shown:
        head = re.match(r"HTTP/1\.1 (\d{3})", line)
        if head:
            return int(head.group(1)) if int(head.group(1)) >= 300 else None
        error = re.search(r'"status":"(\d{3})"', line.replace(" ", ""))
        if error and '"@type":"Error"' in line.replace(" ", ""):
            return int(error.group(1))
    return None


def problems(call: Call) -> list[str]:
    """What does not hold of what the page shows for ``call``."""
    found = []
    if not call.shown:
        found.append("shows nothing of what comes back (add '#=>' lines)")
    wanted = expected_status(call.shown)
    if wanted is not None and call.status != wanted:
        found.append(f"answered {call.status}, the page shows {wanted}")
    if wanted is None and not 200 <= call.status < 300:
        found.append(f"answered {call.status}, the page shows a success")
    _, body = split_answer(call.output)
    for line in (shown.replace("$API", API_ROOT) for shown in call.shown):
        counted = COUNTED.match(line)
        if line == "(no body)":
            holds = body.strip() == ""
        elif counted:
            holds = counted_holds(counted, body)
        else:
            holds = fragment_holds(line, call.output)
        if not holds:
            found.append(f"does not show {line!r}; came back: {call.output[:300]!r}")
    return found


def check_script(script: str, base: str, cwd: Path) -> list[str]:
    """Every problem of a script's examples, each naming its command."""
    calls = calls_of(script)
    answers = run_script(script, base, cwd)
    assert len(answers) == len(calls), (len(answers), len(calls))
    found = []
    for call, (status, _, output) in zip(calls, answers, strict=True):
        call.status, call.output = status, output
        found.extend(f"{call.command}: {problem}" for problem in problems(call))
    return found


# -- writing the #=> lines (for authors) ----------------------------------------------------

def _wild(text: str) -> str:
    return UUID.sub("…", text).replace(API_ROOT, "$API")


def _summary(value: Any, raw: str) -> list[str]:
    if isinstance(value, list):
        kind = "customers" if all(isinstance(v, dict) and v.get("@type") == "Customer"
                                  for v in value) and value else "items"
        names = [str(v["name"]) for v in value if isinstance(v, dict) and "name" in v][:3]
        if not value:
            return ["0 items"]
        shown = ", ".join(names) + (", …" if len(value) > len(names) else "")
        kind = kind if len(value) > 1 else kind[:-1]
        return [f"{len(value)} {kind}" + (f": {shown}" if names else "")]
    if isinstance(value, dict) and value.get("@type") == "Error":
        return [_wild(json.dumps(value, ensure_ascii=False, separators=(",", ":")))]
    whole = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, dict) and len(whole) <= 160:
        return [_wild(whole)]
    if isinstance(value, dict):
        keep = [k for k in value if k in ("name", "status", "statusReason", "callback", "query",
                                             "listener", "eventType", "eventId")]
        parts = ["{"] + [json.dumps({k: value[k]}, ensure_ascii=False,
                                    separators=(",", ":"))[1:-1] for k in keep] + ["}"]
        return [_wild("…".join(parts))]
    return [_wild(raw[:100]) + ("…" if len(raw) > 100 else "")]


def shown_lines(output: str) -> list[str]:
    head, body = split_answer(output)
    lines = [head[0]] if head else []
    lines += [_wild(h) for h in head[1:] if h.split(":", 1)[0].lower() in HEADERS_SHOWN
              and not h.lower().startswith("content-type: application/json")]
    if body.strip():
        try:
            lines += _summary(json.loads(body), body)
        except ValueError:
            lines.append(_wild(body.strip()[:100]))
    elif not head:
        lines.append("(no body)")
    return lines


def write_shown(page: Path, answers: list[tuple[int, str, str]]) -> str:
    """``page`` with each curl call's ``#=>`` lines written from ``answers``."""
    out: list[str] = []
    pending: list[str] = []
    quotes = 0
    inside = False
    number = 0
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = line.startswith("```bash") and not inside
        if inside and line.strip().startswith(SHOWN.strip()):
            continue
        out.append(line)
        if not inside:
            continue
        for _ in range(_code(line).count("curl ")):
            pending += shown_lines(answers[number][2])
            number += 1
        quotes += _code(line).count("'")
        if pending and not line.endswith("\\") and quotes % 2 == 0:
            out += [f"{SHOWN}{text}" for text in pending]
            pending = []
    return "\n".join(out) + "\n"


def hosted_options(text: str, directory: Path) -> list[str]:
    """The options of the hosted sandbox a page describes: its tenants file (the page's
    ``json`` block, written to ``directory``) and its admin token."""
    tenants = re.search(r"```json\n(.*?)```", text, flags=re.S)
    token = re.search(r"--admin-token (\S+)", text)
    assert tenants and token, "a hosting page shows its tenants file and admin token"
    (directory / "tenants.json").write_text(tenants.group(1), encoding="utf-8")
    return ["--tenants", str(directory / "tenants.json"), "--admin-token", token.group(1),
            "--quiet"]


def main(argv: list[str]) -> int:
    """Rewrite the ``#=>`` lines of the pages named, run in that order on one fresh sandbox
    (``--hosted``: the hosted sandbox the first page describes)."""
    import tempfile

    from ctk_runner.embedded import SandboxProcess

    hosted = "--hosted" in argv
    pages = [Path(name) for name in argv if name != "--hosted"]
    scripts = ["\n".join(curl_blocks(page.read_text(encoding="utf-8"))) for page in pages]
    with tempfile.TemporaryDirectory() as scratch:
        options = hosted_options(pages[0].read_text(encoding="utf-8"),
                                 Path(scratch)) if hosted else []
        with SandboxProcess(db=str(Path(scratch) / "db.json") if hosted else ":memory:",
                            extra_args=options) as sandbox:
            answers = run_script("\n".join(scripts), sandbox.url.split("/tmf-api/")[0],
                                 Path(scratch))
    for page, script in zip(pages, scripts, strict=True):
        count = len(calls_of(script))
        page.write_text(write_shown(page, answers[:count]), encoding="utf-8")
        answers = answers[count:]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
