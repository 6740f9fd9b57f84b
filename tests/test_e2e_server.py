"""The sandbox as users run it: the ``tmf629-sandbox`` process on a real port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from ctk_runner.embedded import SandboxProcess
from tests.conftest import MINIMAL

KIT_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}
MANDATORY = ("engagedParty", "@type", "href", "id", "name")
NOT_FOUND_ID = "f0425514-22ec-4937-a579-563c575142f5"


def assert_kit_instance(instance: dict[str, Any], text: str) -> None:
    """The kit's mandatory-attribute block for one returned instance."""
    assert set(MANDATORY) <= instance.keys()
    for key in ("@type", "href", "id", "name"):
        assert isinstance(instance[key], str)
    for key in ("href", "id", "name"):
        assert instance[key] in text


def test_ctk_request_sequence(sandbox_process: SandboxProcess) -> None:
    root = sandbox_process.url
    assert root.endswith("/tmf-api/customerManagement/v4/")
    session = requests.Session()
    session.headers.update(KIT_HEADERS)
    held: dict[str, dict[str, Any]] = {}

    payloads = {"CU01": MINIMAL, "CU02": {**MINIMAL, "name": "Sun Football Club"}}
    for key, payload in payloads.items():  # N1: the two creates
        response = session.post(f"{root}customer", data=json.dumps(payload))
        assert response.status_code == 201
        body = response.json()
        assert_kit_instance(body, response.text)
        assert response.headers["Location"] == body["href"]
        held[key] = body

    response = session.get(f"{root}customer")  # N1: search for the created customers
    assert response.status_code == 200
    listed = response.json()
    for instance in listed:
        assert_kit_instance(instance, response.text)
    by_id = {item["id"]: item for item in listed}
    for key in held:
        assert by_id[held[key]["id"]] == held[key]

    for key in held:  # N1: retrieve each
        response = session.get(f"{root}customer/{held[key]['id']}")
        assert response.status_code == 200
        assert response.json() == held[key]
        assert_kit_instance(response.json(), response.text)

    for attribute in ("href", "id", "name"):  # N2: fields= and the filters
        response = session.get(f"{root}customer?fields={attribute}")
        assert response.status_code == 200
        assert all(set(item) <= {"id", "href", "@type", attribute} for item in response.json())
        for key in held:
            value = quote(held[key][attribute], safe=":/")
            response = session.get(f"{root}customer?{attribute}={value}")
            assert response.status_code == 200
            items = response.json()
            assert [item["id"] for item in items] == [held[key]["id"]]
            assert_kit_instance(items[0], response.text)

    response = session.get(f"{root}customer/{NOT_FOUND_ID}")  # E1
    assert response.status_code == 404
    assert response.json()["@type"] == "Error"

    # The href the server hands out resolves to the same customer.
    assert session.get(held["CU01"]["href"]).json() == held["CU01"]


def test_concurrent_creates_and_patches_lose_no_write(db_path: Path) -> None:
    with SandboxProcess(db=db_path, extra_args=["--quiet"]) as process:
        root = process.url

        def work(worker: int) -> list[str]:
            session = requests.Session()
            ids = []
            for n in range(10):
                body = {**MINIMAL, "name": f"Worker {worker} customer {n}"}
                created = session.post(f"{root}customer", json=body)
                assert created.status_code == 201
                ident = created.json()["id"]
                patched = session.patch(
                    f"{root}customer/{ident}",
                    json={"status": "Approved", "statusReason": f"w{worker}n{n}"},
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                assert patched.status_code == 200
                ids.append(ident)
            return ids

        with ThreadPoolExecutor(max_workers=8) as pool:
            created_ids = [i for ids in pool.map(work, range(8)) for i in ids]

        listed = requests.get(f"{root}customer").json()
        assert len(created_ids) == len(set(created_ids)) == 80
        assert len(listed) == 25 + 80
        ours = {item["id"]: item for item in listed if item["id"] in set(created_ids)}
        assert len(ours) == 80
        for item in ours.values():
            assert item["status"] == "Approved"
            worker, n = item["name"].removeprefix("Worker ").split(" customer ")
            assert item["statusReason"] == f"w{worker}n{n}"

    stored = json.loads(db_path.read_text(encoding="utf-8"))["customer"].values()
    assert len(stored) == 105
    assert (
        sum(
            1
            for doc in stored
            if doc.get("status") == "Approved"
            and "statusReason" in doc
            and doc["statusReason"].startswith("w")
        )
        == 80
    )


def test_server_logs_each_request_and_stops_cleanly_on_ctrl_c(db_path: Path) -> None:
    # A test worker may ignore SIGINT, and a child inherits an ignored signal; a user's
    # shell starts the sandbox with Ctrl-C in effect, so the child must be started so too.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = SandboxProcess(db=db_path, command=["tmf629-sandbox"]).start()
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        requests.get(f"{process.url}customer?status=Approved")
        requests.get(f"{process.url}customer/nope")
        os.kill(process.pid, signal.SIGINT)  # what Ctrl-C sends
        assert process.wait(timeout=10) == 0
    finally:
        process.stop()
    log = "".join(process.output)
    assert '"GET /tmf-api/customerManagement/v4/customer?status=Approved" 200' in log
    assert '"GET /tmf-api/customerManagement/v4/customer/nope" 404' in log
    assert "Stopped." in log


def test_restarted_process_serves_the_same_data(db_path: Path) -> None:
    with SandboxProcess(db=db_path) as first:
        created = requests.post(f"{first.url}customer", json=MINIMAL).json()
    with SandboxProcess(db=db_path) as second:
        again = requests.get(f"{second.url}customer/{created['id']}")
        assert again.status_code == 200
        assert again.json()["name"] == MINIMAL["name"]
        assert again.json()["href"].startswith(second.url)


def test_corrupt_store_exits_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "db.json"
    path.write_text("{not json")
    result = subprocess.run(
        ["tmf629-sandbox", "--port", "0", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "db.json is not valid JSON" in result.stderr
    assert "Traceback" not in result.stderr
