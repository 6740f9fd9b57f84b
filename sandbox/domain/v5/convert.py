"""Moving a customer between TMF629 v4.0.0 and v5.0.1: the mapping of what both share.

``to_v5`` reads a v4 customer (a stored one, a snapshot's, a seed file's) and
writes the v5 customer holding the same facts; the bundled v5 seed
(``fixtures/customers_v5.json``) is the v4 seed put through it
(``python -m sandbox.domain.v5.convert fixtures/customers.json``).

=====================================  ============================================
v4.0.0                                 v5.0.1
=====================================  ============================================
id, name, status, statusReason,        the same
validFor, @baseType, @schemaLocation
@type (default ``Customer``)           ``@type``: ``Customer``
engagedParty (RelatedParty)            engagedParty ``PartyRef`` (id, href, name,
                                       @referredType)
relatedParty[] (RelatedParty + role)   ``RelatedPartyRefOrPartyRoleRef``: role +
                                       partyOrPartyRole ``PartyRef``
contactMedium[] mediumType email,      ``EmailContactMedium`` emailAddress,
phone/mobile, fax, postalAddress,      ``PhoneContactMedium`` phoneNumber,
social; characteristic.*               ``FaxContactMedium`` faxNumber,
                                       ``GeographicAddressContactMedium`` city,
                                       country, postCode, stateOrProvince, street1,
                                       street2, ``SocialContactMedium``
                                       socialNetworkId; contactType, preferred,
                                       validFor kept
characteristic[] (value of any type)   the typed subclass of its value:
                                       ``StringCharacteristic``,
                                       ``IntegerCharacteristic``,
                                       ``NumberCharacteristic``,
                                       ``BooleanCharacteristic``,
                                       ``ObjectCharacteristic``,
                                       ``StringArrayCharacteristic`` ...
account[], agreement[],                ``AccountRef``, ``AgreementRef``,
paymentMethod[]                        ``PaymentMethodRef`` (id, href, name,
                                       @referredType)
creditProfile[]                        ``CreditProfile`` (same members)
=====================================  ============================================

What v5 has no place for (a contact medium of another ``mediumType``, v4-only
members of references) is left out, and listed by :func:`to_v5` in its second
result, so a partner sees what did not cross.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

Document = dict[str, Any]

REF_MEMBERS = ("id", "href", "name", "@referredType")
KEPT = ("id", "name", "status", "statusReason", "validFor", "@baseType", "@schemaLocation")
#: v4 ``mediumType`` -> (v5 subclass, the v4 characteristic members it takes).
MEDIUMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "email": ("EmailContactMedium", ("emailAddress",)),
    "phone": ("PhoneContactMedium", ("phoneNumber",)),
    "mobile": ("PhoneContactMedium", ("phoneNumber",)),
    "fax": ("FaxContactMedium", ("faxNumber",)),
    "social": ("SocialContactMedium", ("socialNetworkId",)),
    "postalAddress": ("GeographicAddressContactMedium",
                      ("city", "country", "postCode", "stateOrProvince", "street1", "street2")),
}
_SCALAR_CHARACTERISTICS = ((bool, "BooleanCharacteristic"), (int, "IntegerCharacteristic"),
                           (float, "NumberCharacteristic"), (str, "StringCharacteristic"),
                           (dict, "ObjectCharacteristic"))


def reference(ref: Any, type_name: str) -> Document:
    """A v4 reference (``RelatedParty``, ``AccountRef`` ...) as the v5 ``type_name``."""
    source = ref if isinstance(ref, dict) else {}
    return {"@type": type_name, **{k: source[k] for k in REF_MEMBERS if k in source}}


def characteristic_type(value: Any) -> str:
    """The v5 characteristic subclass whose ``value`` holds ``value``."""
    if isinstance(value, list):
        item = next(iter(value), "")
        return characteristic_type(item).replace("Characteristic", "ArrayCharacteristic")
    for kind, name in _SCALAR_CHARACTERISTICS:
        if isinstance(value, kind):
            return name
    return "StringCharacteristic"


def characteristic(item: Document) -> Document:
    converted: Document = {"@type": characteristic_type(item.get("value"))}
    converted.update((k, item[k]) for k in ("id", "name", "valueType", "value") if k in item)
    return converted


def contact_medium(item: Document, lost: list[str], where: str) -> Document | None:
    medium = item.get("mediumType")
    found = MEDIUMS.get(medium) if isinstance(medium, str) else None
    if found is None:
        lost.append(f"{where}: mediumType {medium!r} has no v5 subclass")
        return None
    type_name, members = found
    raw = item.get("characteristic")
    details: Document = raw if isinstance(raw, dict) else {}
    converted: Document = {"@type": type_name}
    converted.update((k, item[k]) for k in ("preferred", "validFor") if k in item)
    if "contactType" in details:
        converted["contactType"] = details["contactType"]
    converted.update((k, details[k]) for k in members if k in details)
    left = sorted(set(details) - set(members) - {"contactType"})
    if left:
        lost.append(f"{where}: {', '.join(left)} not in {type_name}")
    return converted


def to_v5(customer: Document) -> tuple[Document, list[str]]:
    """The v5 form of a v4 customer, and what of it has no place in v5."""
    lost: list[str] = []
    converted: Document = {"@type": "Customer"}
    converted.update((k, customer[k]) for k in KEPT if k in customer)
    if "engagedParty" in customer:
        converted["engagedParty"] = reference(customer["engagedParty"], "PartyRef")
    mediums = [contact_medium(m, lost, f"contactMedium[{n}]")
               for n, m in enumerate(customer.get("contactMedium") or []) if isinstance(m, dict)]
    if "contactMedium" in customer:
        converted["contactMedium"] = [m for m in mediums if m is not None]
    if "characteristic" in customer:
        converted["characteristic"] = [characteristic(c) for c in customer["characteristic"]
                                       if isinstance(c, dict)]
    for name, type_name in (("account", "AccountRef"), ("agreement", "AgreementRef"),
                            ("paymentMethod", "PaymentMethodRef")):
        if name in customer:
            converted[name] = [reference(r, type_name) for r in customer[name]]
    if "creditProfile" in customer:
        converted["creditProfile"] = [
            {"@type": "CreditProfile", **{k: v for k, v in p.items() if not k.startswith("@")}}
            for p in customer["creditProfile"] if isinstance(p, dict)]
    if "relatedParty" in customer:
        converted["relatedParty"] = [
            {"@type": "RelatedPartyRefOrPartyRoleRef",
             **({"role": p["role"]} if "role" in p else {}),
             "partyOrPartyRole": reference(p, "PartyRef")}
            for p in customer["relatedParty"] if isinstance(p, dict)]
    return converted, lost


def main(argv: list[str] | None = None) -> int:
    """Print the v5 form of a v4 seed or customer list file (what is lost: on stderr)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m sandbox.domain.v5.convert V4_CUSTOMERS.json", file=sys.stderr)
        return 2
    customers = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    converted = []
    for customer in customers:
        v5, lost = to_v5(customer)
        converted.append(v5)
        for line in lost:
            print(f"{customer.get('id')}: {line}", file=sys.stderr)
    print(json.dumps(converted, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
