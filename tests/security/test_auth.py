"""Authentication and tenancy: every data endpoint refuses every way of not
presenting a valid key with the same 401 problem; another tenant's ids are a
404 indistinguishable from ids that exist nowhere; keys never reach the logs."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import httpx
import pytest

from services import keys
from services.api.sequence import queries
from tests.security.conftest import GLOBEX_CUSTOMER, GLOBEX_INVOICE, SHARED_CUSTOMER, Served

pytestmark = pytest.mark.integration


def data_endpoints(served: Served) -> list[str]:
    invoice, customer = served.acme_invoices[0], served.acme_customers[0]
    return [
        "/invoices/summary",
        "/invoices/summary?invoiceStatus=SENT",
        "/invoices/list-summary",
        f"/customers/{customer}/invoices/summary",
        "/v1/invoices/summaries",
        "/v1/invoices/totals?start_date=2026-01-01&end_date=2026-12-31",
        "/v1/summary",
        f"/v1/customers/{customer}/summary",
        "/v1/invoices",
        f"/v1/invoices/{invoice}",
        "/v1/projections/status",
    ]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


UNKNOWN_KEY = "bk_" + "A" * 43


def failure_modes(revoked: str) -> dict[str, dict[str, str]]:
    """Headers of each way a request can fail to present a valid key."""
    return {
        "no key": {},
        "empty x-api-key": {"x-api-key": ""},
        "unknown key, Bearer": {"Authorization": f"Bearer {UNKNOWN_KEY}"},
        "unknown key, x-api-key": {"x-api-key": UNKNOWN_KEY},
        "unknown key, Basic": {"Authorization": f"Basic {b64(UNKNOWN_KEY + ':')}"},
        "revoked key, Bearer": {"Authorization": f"Bearer {revoked}"},
        "revoked key, x-api-key": {"x-api-key": revoked},
        "revoked key, Basic": {"Authorization": f"Basic {b64(revoked + ':')}"},
        "Bearer without a token": {"Authorization": "Bearer"},
        "bearer (lower case) without a token": {"Authorization": "bearer"},
        "Basic with bad base64": {"Authorization": "Basic !!!not-base64"},
        "Basic with bad padding": {"Authorization": "Basic YWJj="},
        "Basic not UTF-8": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:").decode()},
        "Basic with an empty user": {"Authorization": f"Basic {b64(':' + revoked)}"},
        "Basic with nothing": {"Authorization": f"Basic {b64(':')}"},
        "unknown scheme": {"Authorization": f"Token {revoked}"},
        "scheme only": {"Authorization": "Digest"},
        "key without a scheme": {"Authorization": UNKNOWN_KEY},
    }


async def test_every_data_endpoint_refuses_every_bad_key_with_the_same_401(serve: Any) -> None:
    served: Served = await serve(api_key_cache_seconds=0)
    record, revoked = await keys.create(served.conn, "acme", "to revoke")
    endpoints = data_endpoints(served)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        # The key works, then is revoked: with no cache, the next request already sees it.
        assert (await http.get("/v1/summary", headers={"x-api-key": revoked})).status_code == 200
        assert await keys.revoke(served.conn, record.id)
        modes = failure_modes(revoked)
        wrong: list[str] = []
        details: dict[str, set[str]] = {}
        for mode, headers in modes.items():
            for path in endpoints:
                response = await http.get(path, headers=headers)
                body = response.json() if response.status_code == 401 else {}
                if (
                    response.status_code != 401
                    or not response.headers["content-type"].startswith("application/problem+json")
                    or not response.headers.get("www-authenticate", "").startswith("Bearer")
                    or body.get("status") != 401
                    or body.get("title") != "Unauthorized"
                ):
                    wrong.append(f"{mode} {path}: {response.status_code} {response.text[:200]}")
                details.setdefault(mode, set()).add(body.get("detail", ""))
                assert revoked not in response.text and UNKNOWN_KEY not in response.text
        assert not wrong, "\n".join(wrong)
    print(
        f"auth matrix: {len(endpoints)} endpoints x {len(modes)} failure modes = {len(endpoints) * len(modes)} requests"
    )
    # A revoked key and a key that never existed are told apart by nothing.
    assert details["revoked key, Bearer"] == details["unknown key, Bearer"] == {"unknown or revoked API key"}


async def test_basic_credentials_carry_the_key_as_user_name_or_as_password(serve: Any) -> None:
    """``base64(key:)``, ``base64(:key)`` and Sequence's ``base64(clientId:key)``
    all authenticate; the user name is tried first, then the password. Every
    other combination is the same 401 as any failure."""
    served: Served = await serve(api_key_cache_seconds=0)
    key, other = served.acme_key, served.globex_key
    record, revoked = await keys.create(served.conn, "acme", "to revoke")
    await keys.revoke(served.conn, record.id)
    works = {
        "key as user name": f"{key}:",
        "key as password": f":{key}",
        "client id and key as secret": f"sequence-client-7f3a:{key}",
        "key and any password": f"{key}:whatever",
        "key as both": f"{key}:{key}",
        "revoked user, valid password": f"{revoked}:{key}",
        "unknown user, valid password": f"{UNKNOWN_KEY}:{key}",
    }
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        for mode, credentials in works.items():
            for path in ("/invoices/summary", "/api/invoices/list-summary", "/v1/summary"):
                response = await http.get(path, headers={"Authorization": f"Basic {b64(credentials)}"})
                assert response.status_code == 200, (mode, path, response.text)
        # Both keys valid: the user name's tenant answers.
        both = await http.get(
            "/v1/invoices/" + served.acme_invoices[0], headers={"Authorization": f"Basic {b64(f'{key}:{other}')}"}
        )
        assert both.status_code == 200
        swapped = await http.get(
            "/v1/invoices/" + served.acme_invoices[0], headers={"Authorization": f"Basic {b64(f'{other}:{key}')}"}
        )
        assert swapped.status_code == 404  # globex's key: acme's invoice is nowhere
        refused = {
            "client id and revoked secret": f"sequence-client:{revoked}",
            "client id and unknown secret": f"sequence-client:{UNKNOWN_KEY}",
            "revoked as password": f":{revoked}",
            "client id only": "sequence-client:",
        }
        bodies = set()
        for mode, credentials in refused.items():
            response = await http.get("/invoices/summary", headers={"Authorization": f"Basic {b64(credentials)}"})
            assert response.status_code == 401, (mode, response.text)
            bodies.add(response.text)
            assert revoked not in response.text and UNKNOWN_KEY not in response.text
        assert len(bodies) == 1  # the same 401 for every one


async def test_a_revoked_key_stops_working_within_the_cache_ttl(serve: Any) -> None:
    served: Served = await serve(api_key_cache_seconds=0.5)
    record, key = await keys.create(served.conn, "acme", "to revoke")
    async with httpx.AsyncClient(base_url=served.url, headers={"x-api-key": key}, timeout=30) as http:
        assert (await http.get("/v1/summary")).status_code == 200
        await keys.revoke(served.conn, record.id)
        await asyncio.sleep(0.6)
        assert (await http.get("/v1/summary")).status_code == 401


def normalized(response: httpx.Response, identifier: str) -> tuple[int, str, str]:
    return (response.status_code, response.headers["content-type"], response.text.replace(identifier, "<id>"))


async def test_another_tenants_ids_are_a_404_like_ids_that_exist_nowhere(serve: Any) -> None:
    served: Served = await serve()
    nowhere_invoice, nowhere_customer = "inv-does-not-exist", "cus-does-not-exist"
    pairs = [
        # (path template, another tenant's id, an id nobody has)
        ("/v1/invoices/{}", GLOBEX_INVOICE, nowhere_invoice),
        ("/customers/{}/invoices/summary", GLOBEX_CUSTOMER, nowhere_customer),
        ("/v1/customers/{}/summary", GLOBEX_CUSTOMER, nowhere_customer),
    ]
    async with served.client(served.acme_key) as acme, served.client(served.globex_key) as globex:
        for template, theirs, nobodys in pairs:
            other = await acme.get(template.format(theirs))
            missing = await acme.get(template.format(nobodys))
            assert other.status_code == 404, other.text
            assert normalized(other, theirs) == normalized(missing, nobodys)
            assert (await globex.get(template.format(theirs))).status_code == 200
        # And the other way round: acme's ids are nowhere to globex.
        mine = await globex.get(f"/v1/invoices/{served.acme_invoices[0]}")
        assert normalized(mine, served.acme_invoices[0]) == normalized(
            await globex.get(f"/v1/invoices/{nowhere_invoice}"), nowhere_invoice
        )
        # Filters that name another tenant's ids find nothing; a shared customer id shows only one's own.
        listed = (await acme.get("/v1/invoices", params={"customerId": GLOBEX_CUSTOMER})).json()
        assert listed["items"] == [] and listed["pagination"]["totalResultSize"] == 0
        totals = (await acme.get("/invoices/summary", params={"customerId": GLOBEX_CUSTOMER})).json()
        assert totals == {"totalsByCurrency": []}
        shared = (await acme.get("/v1/invoices", params={"customerId": SHARED_CUSTOMER})).json()
        assert [i["invoiceNumber"] for i in shared["items"]] == ["SHARED-ACME"]
        everything = await acme.get("/v1/invoices", params={"limit": "100"})
        assert "GLOBEX" not in everything.text and GLOBEX_INVOICE not in everything.text


async def test_keys_never_reach_the_logs(
    serve: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every log line of requests with valid and invalid keys, in every
    header, including the error log of a request that fails inside (a broken
    query): the key string appears in none of them, nor in /metrics."""
    served: Served = await serve(api_key_cache_seconds=0)
    caplog.set_level(logging.DEBUG)
    valid, invalid = served.acme_key, "bk_" + "Z" * 43
    headers = [
        {"Authorization": f"Bearer {valid}"},
        {"x-api-key": valid},
        {"Authorization": f"Basic {b64(valid + ':')}"},
        {"Authorization": f"Bearer {invalid}"},
        {"x-api-key": invalid},
        {"Authorization": f"Basic {b64(invalid + ':')}"},
        {"Authorization": f"Token {valid}"},
        {"Authorization": f"Basic {b64(':' + valid)}"},
        {"Authorization": f"Basic {b64('client:' + valid)}"},
        {"Authorization": f"Basic {b64('client:' + invalid)}"},
    ]
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        for h in headers:
            for path in ("/v1/summary", "/invoices/summary", "/v1/invoices?search=%00", "/v1/nowhere"):
                await http.get(path, headers=h)
        monkeypatch.setattr(queries, "CURRENCY_TOTALS", "SELECT no_such_column FROM billing_read.invoices")
        failed = await http.get("/invoices/summary", headers={"Authorization": f"Bearer {valid}"})
        assert failed.status_code == 500
        metrics = (await http.get("/metrics")).text
    out, err = capfd.readouterr()
    logged = out + err + caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert "unhandled error" in logged  # the failure above was logged: the capture works
    for key in (valid, invalid, b64(valid + ":"), b64(invalid + ":"), b64("client:" + valid), b64(":" + valid)):
        assert key not in logged
        assert key not in metrics
