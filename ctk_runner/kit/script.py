"""Run a request's test script, described as data, the way Postman runs the kit's.

A script is a list of steps (see ``certified.json`` / ``published.json``):

* ``{"status": [200, 202]}``: ``Status code is 200`` (or ``... 200 or 202``);
* ``{"parse": "json"}``: ``pm.response.json()``, which throws on a non-JSON body;
* ``{"array_not_expected": NAME}``: a test that fails when the body is an array;
* ``{"instances": BRANCH, "each": [...], "otherwise": [...]}``: the per-instance
  block. ``one`` runs it on the body; ``array`` loops over an array (and throws
  on anything else, as ``forEach`` does); ``array-or-one`` is the published
  scripts' branch: a non-empty array is looped over, any other body (an empty
  array, an error object, a string) is checked as one instance with
  ``otherwise``.

Instance steps: ``mandatory`` (``Object.keys`` includes the attributes),
``string`` (``to.be.a('string')``), ``includes`` (the response text contains
the value), ``hold`` (``pm.globals.set``), ``if_created`` (``instance.id ==
IDCUnn``, then value checks or a "not expected" test).

Inside a ``pm.test`` a JavaScript error fails that assertion; outside one it
stops the script, which Newman counts as a failed test script. Value checks
and "not expected" tests can never fail in Postman (``pm.expect(x) == y``
asserts nothing); they are recorded with ``kind="value"`` and evaluated for
real, so the report can say what differed while the kit's verdict holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctk_runner.client import Reply, decode_json
from ctk_runner.kit import js
from ctk_runner.kit.builds import Build
from ctk_runner.kit.js import describe
from ctk_runner.model import Assertion, summarize

#: What the kit holds per created customer: attribute -> value (``None`` = null).
Held = dict[str, dict[str, Any]]


def who(instance: Any) -> str:
    """Name an instance in a reason by its id, when it has one."""
    if isinstance(instance, Mapping) and isinstance(instance.get("id"), (str, int)):
        return f"customer {instance['id']}"
    if isinstance(instance, Mapping):
        return "the instance"
    return describe(instance)


@dataclass
class ScriptRun:
    """What running one request's script produced."""

    assertions: list[Assertion] = field(default_factory=list)
    #: Why the script stopped (Newman: a failed test script), in plain words.
    error: str | None = None
    #: The decoded body, when the script parsed it.
    body: Any = js.UNDEFINED


class KitScript:
    """Runs one build's scripts; holds the created customers' values across requests."""

    def __init__(self, build: Build, held: Held) -> None:
        self.build = build
        self.held = held

    # -- the values the kit holds -------------------------------------------------

    def held_value(self, subject: str, attribute: str) -> Any:
        if subject not in self.held:
            return js.UNDEFINED
        return self.held[subject].get(attribute, js.UNDEFINED)

    def value_name(self, value: Any) -> str:
        if self.build.value_names == "js":
            return js.to_string(value)
        if js.is_nullish(value):
            return "null"
        return value if isinstance(value, str) else json.dumps(
            value, ensure_ascii=False, separators=(",", ":"))

    # -- the script -------------------------------------------------------------------

    def run(self, steps: Sequence[Mapping[str, Any]], reply: Reply) -> ScriptRun:
        result = ScriptRun()
        try:
            for step in steps:
                self._step(step, reply, result)
        except js.ScriptError as exc:
            result.error = str(exc)
        return result

    def _step(self, step: Mapping[str, Any], reply: Reply, result: ScriptRun) -> None:
        if "status" in step:
            result.assertions.append(status_code(reply, tuple(step["status"])))
        elif "parse" in step:
            if reply.status is None:
                raise js.ScriptError(f"there is no response to read ({reply.error})")
            value, problem = decode_json(reply.text)
            if problem is not None:
                shown = reply.text.strip()
                what = (f"the response body is not JSON (it begins "
                        f"{json.dumps(shown[:60] + ('…' if len(shown) > 60 else ''))}, "
                        f"{reply.header('Content-Type') or 'no content type'})"
                        if shown else "the response body is empty, not JSON")
                raise js.ScriptError(f"pm.response.json() throws: {what}")
            result.body = value
        elif "array_not_expected" in step:
            if isinstance(result.body, list):
                result.assertions.append(Assertion(
                    step["array_not_expected"], False,
                    f"expected a JSON object, got {describe(result.body)}"))
        elif "instances" in step:
            self._instances(step, reply, result)
        else:
            raise ValueError(f"unknown script step {dict(step)!r}")

    def _instances(self, step: Mapping[str, Any], reply: Reply, result: ScriptRun) -> None:
        body, branch = result.body, step["instances"]
        fired: set[int] = set()
        if branch == "one" or (branch == "array-or-one" and not (
                isinstance(body, list) and body)):
            self._instance(step.get("otherwise", step["each"]) if branch != "one"
                           else step["each"], body, reply.text, result, fired)
            return
        if not isinstance(body, list):
            raise js.ScriptError(
                f"the script loops over a JSON array and stops: got {describe(body)}")
        for instance in body:
            self._instance(step["each"], instance, reply.text, result, fired)

    def _instance(self, steps: Sequence[Mapping[str, Any]], instance: Any, text: str,
                  result: ScriptRun, fired: set[int]) -> None:
        out = result.assertions
        for index, step in enumerate(steps):
            if "mandatory" in step:
                out.append(mandatory(instance, step["mandatory"]))
            elif "string" in step:
                out.append(is_string(instance, step["string"]))
            elif "includes" in step:
                out.append(body_includes(instance, step["includes"], text))
            elif "hold" in step:
                self._hold(instance, step["hold"], step["attributes"])
            elif "if_created" in step:
                subject = step["if_created"]
                # Outside any pm.test: reading .id of null stops the script.
                if not js.loose_equals(js.get(instance, "id"), self.held_value(subject, "id")):
                    continue
                if "values" in step:
                    out += [self._value_check(instance, subject, a) for a in step["values"]]
                elif not (step.get("once") and index in fired):
                    fired.add(index)
                    out.append(self._not_expected(instance, subject, step["not_expected"]))
            else:
                raise ValueError(f"unknown instance step {dict(step)!r}")

    def _hold(self, instance: Any, subject: str, attributes: Any) -> None:
        if attributes == "*":
            self.held[subject] = {k: js.get(instance, k) for k in js.keys(instance)}
        else:
            self.held[subject] = {a: js.stored(js.get(instance, a)) for a in attributes}

    def _value_check(self, instance: Any, subject: str, attribute: str) -> Assertion:
        expected = self.held_value(subject, attribute)
        actual = js.get(instance, attribute)
        same = (js.is_nullish(actual) and js.is_nullish(expected)) or actual == expected
        why = "" if same else (
            f"{who(instance)} has {attribute} = {summarize(self.value_name(actual), 120)}, "
            f"but the create response held {summarize(self.value_name(expected), 120)}")
        return Assertion(f"{attribute} is {self.value_name(expected)}", same, why, kind="value")

    def _not_expected(self, instance: Any, subject: str, attribute: str | None) -> Assertion:
        name = f"ID{subject} not expected on this test"
        if subject not in self.held:
            why = (f"{who(instance)} has no id and ID{subject} was never set: the kit's script "
                   "compares undefined == undefined")
            return Assertion(name, False, why, kind="value")
        # The other customer legitimately shows up when it matches the filter too.
        requested = self._requested(subject, attribute)
        actual = js.get(instance, attribute) if attribute is not None else js.UNDEFINED
        ok = attribute is not None and requested is not None and str(actual) == str(requested)
        if ok:
            why = ""
        elif attribute is None:
            why = f"{who(instance)} (the run's {subject}) was returned for the other's retrieve"
        else:
            shown = summarize(self.value_name(actual), 80)
            why = (f"{who(instance)} (the run's {subject}) was returned although its "
                   f"{attribute} is {shown}")
        return Assertion(name, ok, why, kind="value")

    def _requested(self, other: str, attribute: str | None) -> Any:
        if attribute is None:
            return None
        mine = [s for s in self.build.subjects if s != other]
        return self.held_value(mine[0], attribute) if mine else None


# -- the kit's tests, one function each -------------------------------------------------


def status_code(reply: Reply, codes: tuple[int, ...]) -> Assertion:
    name = "Status code is " + " or ".join(str(c) for c in codes)
    if reply.status is None:
        return Assertion(name, False, f"no response: {reply.error}")
    ok = reply.status in codes
    expected = " or ".join(str(c) for c in codes)
    why = "" if ok else f"expected {expected}, got {reply.status} {reply.reason}".rstrip()
    return Assertion(name, ok, why)


def mandatory(instance: Any, required: Sequence[str]) -> Assertion:
    name = "Instance has all mandatory attributes"
    wanted = list(dict.fromkeys(required))
    try:
        present = js.keys(instance)
    except js.ScriptError:
        return Assertion(name, False, f"expected a JSON object with {', '.join(wanted)}; "
                         f"got {describe(instance)}")
    missing = [a for a in wanted if a not in present]
    if not missing:
        return Assertion(name, True)
    if not isinstance(instance, Mapping):
        return Assertion(name, False, f"expected a JSON object with {', '.join(wanted)}; "
                         f"got {describe(instance)}")
    return Assertion(name, False, f"{who(instance)} lacks {', '.join(missing)}")


def is_string(instance: Any, attribute: str) -> Assertion:
    name = f"Response has {attribute} attribute"
    try:
        value = js.get(instance, attribute)
    except js.ScriptError:
        return Assertion(name, False, f"expected a JSON object, got {describe(instance)}")
    if js.is_string(value):
        return Assertion(name, True)
    if not isinstance(instance, Mapping):
        why = f"expected a JSON object, got {describe(instance)}"
    elif value is js.UNDEFINED:
        why = f"{who(instance)} has no {attribute}"
    else:
        why = f"{who(instance)} has {attribute} = {describe(value)}, not a string"
    return Assertion(name, False, why)


def body_includes(instance: Any, attribute: str, text: str) -> Assertion:
    name = f"Body includes value held on {attribute}"
    try:
        value = js.get(instance, attribute)
    except js.ScriptError:
        return Assertion(name, False, f"expected a JSON object, got {describe(instance)}")
    if js.includes(text, value):
        return Assertion(name, True)
    if value is js.UNDEFINED:
        why = (f"{who(instance)} has no {attribute}, so there is no value to find"
               if isinstance(instance, Mapping)
               else f"expected a JSON object, got {describe(instance)}")
    else:
        why = f"the response text does not contain {summarize(js.to_string(value), 120)}"
    return Assertion(name, False, why)
