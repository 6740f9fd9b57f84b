"""``ctk-runner --api v5``: a TMF629 v5.0.1 conformance suite derived from the OAS.

Not TM Forum's v5 kit (a Cypress download that checks little): the folders V5
(customers) and NT5 (hub and events) are written from the v5.0.1 OAS, whose
schemas ship in ``oas_schemas.json`` (:mod:`ctk_runner.v5.oas`). Same client,
reports, profiles and deployment options as the v4 kit.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Literal

Api = Literal["v4", "v5"]
APIS: tuple[Api, ...] = ("v4", "v5")

COLLECTION_NAME = "TMF629-Customer-5.0.1 (derived from the OAS)"
#: What ``run.build`` says of a v5 run (a v4 run says its kit build).
BUILD = "v5-oas"
#: The v5 API root under a server (the OAS's examples; its ``servers`` say ``customer``).
ROOT_PATH = "/tmf-api/customerManagement/v5/"
V4_ROOT_PATH = "/tmf-api/customerManagement/v4/"


def api_root(sandbox_root: str, api: str) -> str:
    """The sandbox's root for ``api`` (it serves both versions; it announces v4's)."""
    from ctk_runner.config import normalise_root

    root = normalise_root(sandbox_root)
    return root.replace(V4_ROOT_PATH, ROOT_PATH) if api == "v5" else root


def default_payloads() -> tuple[dict[str, Any], dict[str, Any]]:
    """The CU01 and CU02 create bodies (``Customer_FVO``) of the v5 suite."""
    text = resources.files(__name__).joinpath("payloads.json").read_text("utf-8")
    first, second = json.loads(text)
    return first, second


def payload_problems(payload: Any) -> list[str]:
    """How a create body is not a valid ``Customer_FVO``, polymorphism aware."""
    from ctk_runner.v5 import oas

    return oas.problems(payload, "Customer_FVO") + oas.undeclared(payload, "Customer_FVO")


def tag_payload(payload: dict[str, Any], run_id: str) -> dict[str, Any]:
    """``payload`` with the run id as a v5 ``StringCharacteristic`` (the clean-up finds it)."""
    from ctk_runner.cleanup import RUN_ID_CHARACTERISTIC

    characteristics = list(payload.get("characteristic") or [])
    characteristics.append({"@type": "StringCharacteristic", "name": RUN_ID_CHARACTERISTIC,
                            "value": run_id, "valueType": "string"})
    return {**payload, "characteristic": characteristics}
