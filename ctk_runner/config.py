"""Run settings: target URL, headers, payloads, profile; and the preflight.

Settings come from the command line (CLI or pytest options) and optionally
from the TM Forum kit's own ``config.json`` (``url``, ``headers``,
``payloads.Customer.POST.payload``); the command line wins. Everything a user
can get wrong ends in :class:`ConfigError` carrying one sentence, which the
CLI prints and turns into exit code 2: a configuration problem is never a
verdict about the target, and never a traceback.

The preflight stops a run only when the target gives no HTTP answer at all
(:class:`TargetUnreachable`): wherever the kit runs, the harness runs. What it
finds beyond that (a redirect, 401, no collection, not JSON, a byte order
mark) is returned as warnings for the report.

The options for real deployments (auth, TLS, pacing, clean-up, baselines)
are merged in :mod:`ctk_runner.deployment`, also from the config file's
``"ctk-runner"`` object, and travel as ``Settings.deployment``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ctk_runner import v5
from ctk_runner.cleanup import tag_payload
from ctk_runner.client import Client, Reply, decode_json
from ctk_runner.deployment import CONFIG_SECTION, Deployment, build_deployment
from ctk_runner.kit.builds import BUILDS
from ctk_runner.model import PROFILES, RULE_SOURCES, Profile, Source
from ctk_runner.strict.rules import parse_sources
from ctk_runner.v5 import APIS, Api

DEFAULT_TIMEOUT = 30.0
DEFAULT_EVENT_TIMEOUT = 10.0
DEFAULT_QUIET_PERIOD = 2.0
DEFAULT_REPORT_DIR = "ctk-report"

# Used only when the ``fixtures`` package is not installed next to the harness;
# the copies in fixtures/payloads/ are the ones to edit.
_FALLBACK_PAYLOADS: tuple[dict[str, Any], dict[str, Any]] = (
    {"name": "Moon Football Club", "engagedParty": {"@referredType": "Organization", "id": "500"}},
    {"name": "Sun Football Club", "engagedParty": {"@referredType": "Organization", "id": "501"}},
)

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class ConfigError(Exception):
    """A problem with the run's configuration; the message is one sentence."""


class TargetUnreachable(ConfigError):
    """The preflight request got no HTTP answer from the target URL."""


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, already validated."""

    target_url: str
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    verify: bool = True
    payloads: tuple[dict[str, Any], dict[str, Any]] = _FALLBACK_PAYLOADS
    profile: Profile = "ctk"
    #: The build of the kit to run (:data:`ctk_runner.kit.builds.BUILDS`).
    kit: str = "certified"
    report_dir: Path | None = Path(DEFAULT_REPORT_DIR)
    cleanup: bool = False
    #: Run only the notifications folder (NT1); the strict profile runs it after the kit.
    notifications: bool = False
    #: The listener's URL as the target must call it (default: where it listens).
    callback_url: str | None = None
    #: HOST:PORT the runner's listener binds to (default 127.0.0.1 on a free port).
    listen: str | None = None
    #: Seconds to wait for each expected event, then to watch for unexpected ones.
    event_timeout: float = DEFAULT_EVENT_TIMEOUT
    quiet_period: float = DEFAULT_QUIET_PERIOD
    #: Auth, TLS, pacing, clean-up and reporting options for real deployments.
    deployment: Deployment = field(default_factory=Deployment)
    #: The sources of the strict rules to run (``--rules``); the kit's tests always run.
    rules: tuple[Source, ...] = RULE_SOURCES
    #: Follow an href outside the target's origin, without any credential.
    follow_foreign_hrefs: bool = False
    #: The TMF629 version checked: ``v4`` (the kit) or ``v5`` (:mod:`ctk_runner.v5`).
    api: Api = "v4"

    def client(self) -> Client:
        d, runtime = self.deployment, self.deployment.runtime
        return Client(self.headers, timeout=self.timeout, verify=d.verify(self.verify),
                      auth=runtime.authenticator, cert=d.cert, pacing=runtime.pacing,
                      observers=[runtime.tracker(self.target_url)])

    def bare_client(self) -> Client:
        """A client for a host the user did not name: no header, token or certificate."""
        return Client({}, timeout=self.timeout, verify=self.deployment.verify(self.verify))


@dataclass(frozen=True)
class KitConfig:
    """The parts of the TM Forum kit's ``config.json`` the harness uses."""

    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    #: The ``"ctk-runner"`` object: options of :mod:`ctk_runner.deployment`.
    runner: dict[str, Any] = field(default_factory=dict)


def normalise_root(url: str) -> str:
    """Check the API root URL and give it the trailing slash the kit expects."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"the target URL {url!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"the target URL {url!r} must be the API root, without ?query or #")
    return text if text.endswith("/") else text + "/"


def parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not _HEADER_NAME.match(name):
        raise ConfigError(f"the header {text!r} is not of the form 'Name: value'")
    return name, value.strip()


def _read_json(path: str | Path, what: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON ({exc})") from None


def load_kit_config(path: str | Path) -> KitConfig:
    """Read a TM Forum CTK ``config.json``."""
    data = _read_json(path, "the config file")
    if not isinstance(data, Mapping):
        raise ConfigError(f"the config file {path} does not hold a JSON object")
    url = data.get("url")
    if url is not None and not isinstance(url, str):
        raise ConfigError(f"the config file {path} has a 'url' that is not a string")
    headers: dict[str, str] = {}
    raw_headers = data.get("headers") or {}
    if isinstance(raw_headers, Mapping):
        headers = {str(k): str(v) for k, v in raw_headers.items()}
    elif isinstance(raw_headers, list):
        # Postman's own form: [{"key": ..., "value": ..., "disabled": bool}].
        for item in raw_headers:
            if not isinstance(item, Mapping) or "key" not in item:
                raise ConfigError(f"the config file {path} has a header without a 'key'")
            if not item.get("disabled"):
                headers[str(item["key"])] = str(item.get("value", ""))
    else:
        raise ConfigError(f"the config file {path} has 'headers' that are neither object nor list")
    payload = None
    try:
        payload = data["payloads"]["Customer"]["POST"]["payload"]
    except (KeyError, TypeError):
        payload = None
    if payload is not None and not isinstance(payload, Mapping):
        raise ConfigError(
            f"the config file {path} has a Customer POST payload that is not an object"
        )
    runner = data.get(CONFIG_SECTION) or {}
    if not isinstance(runner, Mapping):
        raise ConfigError(f"the config file {path} has a {CONFIG_SECTION!r} that is not an object")
    return KitConfig(url, headers, dict(payload) if payload is not None else None, dict(runner))


def load_payload(path: str | Path) -> dict[str, Any]:
    payload = _read_json(path, "the payload file")
    if not isinstance(payload, dict):
        raise ConfigError(f"the payload file {path} does not hold a JSON object")
    return payload


def validate_payload(payload: Mapping[str, Any], origin: str) -> None:
    """Refuse a create body the spec's ``Customer_Create`` schema rejects."""
    import schemas

    errors = sorted(
        schemas.validator("Customer_Create").iter_errors(payload),
        key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))),
    )
    if errors:
        first = errors[0]
        where = "/" + "/".join(str(p) for p in first.absolute_path)
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ConfigError(
            f"{origin} is not a valid Customer_Create: {first.message} at {where}{more}"
        )


def default_payloads() -> tuple[dict[str, Any], dict[str, Any]]:
    """The CU01 and CU02 bodies shipped in ``fixtures/payloads/``."""
    try:
        folder = resources.files("fixtures").joinpath("payloads")
        return (
            json.loads(folder.joinpath("CU01.json").read_text(encoding="utf-8")),
            json.loads(folder.joinpath("CU02.json").read_text(encoding="utf-8")),
        )
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError):
        return copy.deepcopy(_FALLBACK_PAYLOADS)


def build_settings(
    *,
    target_url: str | None,
    headers: Sequence[str] = (),
    timeout: float | None = None,
    insecure: bool = False,
    payload_files: Sequence[str] = (),
    config_file: str | None = None,
    profile: str = "ctk",
    kit: str = "certified",
    report_dir: str | Path | None = DEFAULT_REPORT_DIR,
    cleanup: bool | None = False,
    notifications: bool = False,
    callback_url: str | None = None,
    listen: str | None = None,
    event_timeout: float | None = None,
    quiet_period: float | None = None,
    deployment: Mapping[str, Any] | None = None,
    rules: str | None = None,
    follow_foreign_hrefs: bool = False,
    api: str = "v4",
) -> Settings:
    """Merge command line and kit config into validated :class:`Settings`.

    ``deployment`` holds the command line's options of :mod:`ctk_runner.deployment`
    (None values: not given); ``cleanup=None`` means on unless ``keep-data``.
    """
    kit_config = load_kit_config(config_file) if config_file else KitConfig()
    url = target_url or kit_config.url
    if not url:
        raise ConfigError("no target: give --target-url URL (or a --config with a 'url')")
    if profile not in PROFILES:
        raise ConfigError(f"the profile {profile!r} is unknown; use one of {', '.join(PROFILES)}")
    if api not in APIS:
        raise ConfigError(f"the API version {api!r} is unknown; use one of {', '.join(APIS)}")
    if kit not in BUILDS:
        raise ConfigError(f"the kit build {kit!r} is unknown; use one of {', '.join(BUILDS)}")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"the timeout must be a positive number of seconds, not {timeout:g}")
    try:
        sources = parse_sources(rules) if rules is not None else RULE_SOURCES
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        chosen = build_deployment(deployment or {}, kit_config.runner,
                                  timeout=timeout or DEFAULT_TIMEOUT, verify=not insecure)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if cleanup and chosen.keep_data:
        raise ConfigError("give either --cleanup or --keep-data, not both")
    if timeout is None:
        timeout = chosen.timeout

    merged = dict(kit_config.headers)
    for text in headers:
        name, value = parse_header(text)
        merged[name] = value
    for name, value in merged.items():
        chosen.runtime.secrets.add_header(name, value)

    payloads: tuple[dict[str, Any], dict[str, Any]]
    origins: tuple[str, str]
    if len(payload_files) > 2:
        raise ConfigError("--payload is given more than twice; the kit creates two customers")
    if payload_files:
        first = load_payload(payload_files[0])
        second = load_payload(payload_files[-1])
        payloads = (first, second)
        origins = (f"the payload file {payload_files[0]}", f"the payload file {payload_files[-1]}")
    elif kit_config.payload is not None:
        # The kit posts its single configured payload for both customers.
        payloads = (kit_config.payload, copy.deepcopy(kit_config.payload))
        origins = (f"the Customer POST payload of {config_file}",) * 2
    else:
        payloads = default_payloads() if api == "v4" else v5.default_payloads()
        origins = ("the default payload CU01", "the default payload CU02")
    tag = tag_payload if api == "v4" else v5.tag_payload
    for payload, origin in zip(payloads, origins, strict=True):
        if api == "v4":
            validate_payload(payload, origin)
        elif problems := v5.payload_problems(payload):
            raise ConfigError(f"{origin} is not a valid v5 Customer_FVO: {problems[0]}"
                              f"{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}")
    if chosen.tag:
        payloads = (tag(payloads[0], chosen.run_id), tag(payloads[1], chosen.run_id))

    return Settings(
        target_url=normalise_root(url),
        headers=merged,
        timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
        verify=not insecure,
        payloads=payloads,
        profile=profile,  # narrowed to Profile by the PROFILES check above
        kit=kit,
        report_dir=Path(report_dir) if report_dir is not None else None,
        cleanup=cleanup if cleanup is not None else not chosen.keep_data,
        **notification_settings(notifications, callback_url, listen, event_timeout,
                                quiet_period),
        deployment=chosen,
        rules=sources,
        follow_foreign_hrefs=follow_foreign_hrefs,
        api="v5" if api == "v5" else "v4",
    )


def prepare_report_dir(settings: Settings) -> None:
    """Create the report directory now, so a bad path fails before the run, not after."""
    if settings.report_dir is None:
        return
    try:
        settings.report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"the report directory {settings.report_dir} cannot be created "
            f"({exc.strerror or exc})"
        ) from None


def preflight(settings: Settings, client: Client | None = None) -> list[str]:
    """Send one request the kit sends anyway (``GET customer?fields=id``).

    Raises :class:`TargetUnreachable` only when no HTTP answer comes back
    (refused, reset, timed out, TLS, DNS, a token endpoint that refuses). Any
    answer lets the run go on, as Newman would: what looks wrong about it is
    returned as warnings, each one sentence with a hint.
    """
    own = client is None
    client = client or settings.client()
    root = settings.target_url
    url = root + "customer?fields=id"
    try:
        reply = client.send("GET", url)
    finally:
        if own:
            client.close()
    if reply.error is not None:
        raise TargetUnreachable(f"Cannot reach the target {root}: {reply.error}.")
    return preflight_warnings(root, reply)


def preflight_warnings(root: str, reply: Reply) -> list[str]:
    """What the preflight's answer says about the target, as warnings."""
    url = reply.url
    status = f"HTTP {reply.status} {reply.reason}".rstrip()
    hint = ""
    if urlsplit(root).path.rstrip("/").endswith("/customer"):
        hint = " (the URL must be the API root, without the final 'customer')"
    warnings: list[str] = []
    if reply.status in (301, 302, 303, 307, 308):
        warnings.append(
            f"The target {root} redirects {url} to {reply.header('Location')}; "
            "the kit does not follow redirects: give the final API root as the target URL.")
    elif reply.status in (401, 403):
        warnings.append(
            f"The target {root} refused access to {url} ({status}); "
            "pass credentials with --auth (or --header 'Authorization: ...').")
    elif reply.status in (404, 405, 410):
        warnings.append(
            f"The target {root} may have no customer collection: GET {url} answered "
            f"{status}{hint}.")
    else:
        _, problem = decode_json(reply.text)
        if problem is not None:
            content_type = reply.header("Content-Type") or "no content type"
            warnings.append(
                f"The target {root} may not be a TMF629 JSON API: GET {url} answered "
                f"{status} with {content_type}, not JSON{hint}.")
    if reply.bom:
        warnings.append(
            f"GET {url} answered a JSON body that starts with a byte order mark; the kit "
            "reads it anyway, RFC 8259 forbids it (the strict profile fails it).")
    return warnings


def notification_settings(
    notifications: bool, callback_url: str | None, listen: str | None,
    event_timeout: float | None, quiet_period: float | None,
) -> dict[str, Any]:
    """Check the options of the notifications folder (NT1)."""
    from ctk_runner.notifications.listener import parse_address

    if callback_url is not None:
        parts = urlsplit(callback_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"the callback URL {callback_url!r} is not an http:// or "
                              "https:// URL")
    if listen is not None:
        try:
            parse_address(listen)
        except ValueError as exc:
            raise ConfigError(f"the listen address {exc}") from None
    for name, value in (("event timeout", event_timeout), ("quiet period", quiet_period)):
        if value is not None and value <= 0:
            raise ConfigError(f"the {name} must be a positive number of seconds, not {value:g}")
    return {
        "notifications": notifications,
        "callback_url": callback_url.strip() if callback_url else None,
        "listen": listen,
        "event_timeout": event_timeout or DEFAULT_EVENT_TIMEOUT,
        "quiet_period": quiet_period or DEFAULT_QUIET_PERIOD,
    }
