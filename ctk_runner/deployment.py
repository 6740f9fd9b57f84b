"""Options for runs against real deployments, from the command line or ``--config``.

Every option of this group can also be written, under its long name, in the
``"ctk-runner"`` object of the ``--config`` file (``{"ctk-runner": {"auth":
"oauth2-client-credentials", "token-url": ..., "rate": 5}}``); the command
line wins. Secrets are never read from either: only the name of the
environment variable that holds them (``secret-env``).

:class:`Deployment` is frozen like the rest of the settings, but it carries
the run's shared, mutable parts in :class:`Runtime`: the secrets to mask, the
authenticator (one token for the whole run, the preflight included), the
pacing (one rate and one retry log), and the customers each client created.
:func:`add_deployment_options` declares the group's command-line options.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ctk_runner.auth import Authenticator, AuthSpec, Secrets, parse_auth
from ctk_runner.cleanup import CreatedCustomers, new_run_id
from ctk_runner.pacing import DEFAULT_MAX_RETRY_WAIT, DEFAULT_RETRIES, Pacing

FailOn = Literal["any", "new"]
CONFIG_SECTION = "ctk-runner"
OPTION_KEYS = (
    "auth", "secret-env", "token-url", "client-id", "scope", "audience",
    "cert", "key", "ca-bundle", "rate", "retries", "max-retry-wait", "timeout",
    "keep-data", "run-id", "baseline", "latency-tolerance", "fail-on", "quiet", "json-summary",
)
DEFAULT_LATENCY_TOLERANCE = "50%"
_TOLERANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%|ms)\s*$")


@dataclass
class Runtime:
    """The mutable parts one run shares between its clients."""

    secrets: Secrets = field(default_factory=Secrets)
    pacing: Pacing = field(default_factory=Pacing)
    authenticator: Authenticator | None = None
    created: dict[str, CreatedCustomers] = field(default_factory=dict)

    def tracker(self, root: str) -> CreatedCustomers:
        return self.created.setdefault(root, CreatedCustomers(root))


@dataclass(frozen=True)
class Tolerance:
    """How much a request's p50 latency may move before the diff reports it."""

    value: float
    unit: Literal["%", "ms"]

    def exceeded(self, before: float, after: float) -> bool:
        change = abs(after - before)
        if self.unit == "ms":
            return change > self.value
        return change > before * self.value / 100.0

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"


@dataclass(frozen=True)
class Deployment:
    """The validated options of this group; defaults change nothing for a plain run."""

    auth: AuthSpec | None = None
    cert: tuple[str, str] | str | None = None
    ca_bundle: str | None = None
    rate: float | None = None
    retries: int = DEFAULT_RETRIES
    max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT
    timeout: float | None = None
    keep_data: bool = False
    #: The run's id (generated unless given); ``tag`` says whether payloads carry it.
    run_id: str = field(default_factory=new_run_id)
    tag: bool = False
    baseline: Path | None = None
    latency_tolerance: Tolerance = Tolerance(50.0, "%")
    fail_on: FailOn = "any"
    quiet: bool = False
    json_summary: str | None = None
    runtime: Runtime = field(default_factory=Runtime, compare=False, repr=False)

    def verify(self, verify: bool) -> bool | str:
        """``requests``' ``verify``: the CA bundle when one is given (and not --insecure)."""
        return self.ca_bundle if (verify and self.ca_bundle) else verify


def parse_tolerance(text: str) -> Tolerance:
    match = _TOLERANCE.match(str(text))
    if not match:
        raise ValueError(f"the latency tolerance {text!r} is neither a percentage (50%) nor "
                         "milliseconds (200ms)")
    unit: Literal["%", "ms"] = "%" if match.group(2) == "%" else "ms"
    return Tolerance(float(match.group(1)), unit)


def build_deployment(options: Mapping[str, Any], section: Mapping[str, Any] | None, *,
                     timeout: float, verify: bool,
                     environ: Mapping[str, str] | None = None) -> Deployment:
    """Merge command-line ``options`` (None: not given) over the config ``section``.

    Raises ``ValueError`` with one sentence.
    """
    unknown = sorted(set(section or {}) - set(OPTION_KEYS))
    if unknown:
        raise ValueError(f"the config file's {CONFIG_SECTION!r} object has unknown keys: "
                         + ", ".join(unknown))
    merged = {key: options.get(key) if options.get(key) is not None
              else (section or {}).get(key) for key in OPTION_KEYS}
    secrets = Secrets()
    auth = None
    if merged["auth"]:
        auth = parse_auth(str(merged["auth"]), secret_env=_text(merged, "secret-env"),
                          token_url=_text(merged, "token-url"),
                          client_id=_text(merged, "client-id"), scope=_text(merged, "scope"),
                          audience=_text(merged, "audience"),
                          environ=dict(os.environ if environ is None else environ))
    cert_file, key_file, ca_bundle = (_file(merged, k) for k in ("cert", "key", "ca-bundle"))
    if key_file and not cert_file:
        raise ValueError("--key needs --cert (the client certificate it belongs to)")
    cert: tuple[str, str] | str | None = (cert_file, key_file) if cert_file and key_file \
        else cert_file
    rate = _number(merged, "rate")
    retries = _number(merged, "retries", integer=True, zero=True)
    max_wait = _number(merged, "max-retry-wait", zero=True)
    own_timeout = _number(merged, "timeout")
    fail_on = str(merged["fail-on"] or "any")
    if fail_on not in ("any", "new"):
        raise ValueError(f"--fail-on {fail_on!r} is unknown; use any or new")
    if fail_on == "new" and not merged["baseline"]:
        raise ValueError("--fail-on new needs a --baseline report to know what is new")
    run_id = _text(merged, "run-id")
    if run_id is not None and not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", run_id):
        raise ValueError(f"the run id {run_id!r} may hold only letters, digits and ._:- "
                         "(at most 64)")
    runtime = Runtime(secrets=secrets, pacing=Pacing(
        rate=rate, retries=int(retries) if retries is not None else DEFAULT_RETRIES,
        max_wait=max_wait if max_wait is not None else DEFAULT_MAX_RETRY_WAIT))
    deployment_verify = ca_bundle if (verify and ca_bundle) else verify
    if auth is not None:
        runtime.authenticator = Authenticator(auth, secrets, timeout=own_timeout or timeout,
                                              verify=deployment_verify, cert=cert)
    return Deployment(
        auth=auth, cert=cert, ca_bundle=ca_bundle, rate=rate,
        retries=runtime.pacing.retries, max_retry_wait=runtime.pacing.max_wait,
        timeout=own_timeout, keep_data=bool(merged["keep-data"]),
        run_id=run_id or new_run_id(), tag=run_id is not None,
        baseline=Path(str(merged["baseline"])) if merged["baseline"] else None,
        latency_tolerance=parse_tolerance(str(merged["latency-tolerance"]
                                              or DEFAULT_LATENCY_TOLERANCE)),
        fail_on="new" if fail_on == "new" else "any",
        quiet=bool(merged["quiet"]), json_summary=_text(merged, "json-summary"),
        runtime=runtime,
    )


def _text(merged: Mapping[str, Any], key: str) -> str | None:
    value = merged.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"--{key} must be a non-empty text, not {value!r}")
    return value.strip()


def _file(merged: Mapping[str, Any], key: str) -> str | None:
    path = _text(merged, key)
    if path is not None and not Path(path).is_file():
        raise ValueError(f"the --{key} file {path} does not exist")
    return path


def _number(merged: Mapping[str, Any], key: str, *, integer: bool = False,
            zero: bool = False) -> float | None:
    value = merged.get(key)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    bad = number != number or number < 0 or (number == 0 and not zero) or isinstance(
        value, bool) or (integer and number != int(number))
    if bad:
        kind = "whole number" if integer else "number"
        raise ValueError(f"--{key} must be a {'non-negative' if zero else 'positive'} {kind}, "
                         f"not {value!r}")
    return number


def add_deployment_options(parser: argparse.ArgumentParser) -> None:
    """Options for real deployments; each also fits the config file's "ctk-runner" object."""
    group = parser.add_argument_group(
        "real deployments (each also as a key of the --config file's \"ctk-runner\" object)")
    add = group.add_argument
    add("--auth", metavar="SCHEME", help="bearer[:TOKEN], basic:USER or "
        "oauth2-client-credentials; secrets come from the --secret-env variable")
    add("--secret-env", metavar="NAME", help="environment variable holding the bearer token, "
        "password or client secret (default CTK_BEARER_TOKEN, CTK_BASIC_PASSWORD, "
        "CTK_CLIENT_SECRET)")
    add("--token-url", metavar="URL", help="OAuth2 token endpoint")
    add("--client-id", metavar="ID", help="OAuth2 client id")
    add("--scope", metavar="SCOPES", help="OAuth2 scope (space-separated)")
    add("--audience", metavar="AUDIENCE", help="OAuth2 audience parameter")
    add("--cert", metavar="FILE", help="client certificate (PEM) for mutual TLS")
    add("--key", metavar="FILE", help="private key (PEM) of --cert, when not in the same file")
    add("--ca-bundle", metavar="FILE", help="CA certificates (PEM) to verify the target with")
    add("--rate", type=float, metavar="N", help="at most N requests per second")
    add("--retries", type=int, metavar="N",
        help="retries of a 429 or 503 answer, honouring Retry-After (default 3)")
    add("--max-retry-wait", type=float, metavar="SECONDS",
        help="longest wait before a retry (default 60)")
    add("--keep-data", action="store_const", const=True, default=None,
        help="do not delete the customers the run created")
    add("--run-id", metavar="ID", help="tag every created customer with this id (a "
        "characteristic ctkRunId), so strays can be found and swept")
    add("--baseline", metavar="REPORT_JSON", help="a previous run's report.json: write "
        "diff.html and diff.json and summarise what changed")
    add("--latency-tolerance", metavar="N%|Nms",
        help="p50 latency change the diff ignores (default 50%%)")
    add("--fail-on", choices=("any", "new"), default=None,
        help="exit 1 on any failure (default) or only on failures new since --baseline")
    add("--quiet", action="store_const", const=True, default=None,
        help="print only the verdict and errors")
    add("--json-summary", metavar="FILE", help="write a JSON verdict for CI to FILE "
        "('-': standard output, implies --quiet)")


def deployment_options(args: argparse.Namespace) -> dict[str, object]:
    """The parsed options of this group by their long names (None: not given)."""
    return {key: getattr(args, key.replace("-", "_"), None) for key in OPTION_KEYS
            if key != "timeout"}
