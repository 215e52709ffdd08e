"""Flexprice's own published Python SDK (PyPI ``flexprice``), configured as its
users configure it — a server URL ending in ``/v1`` and the ``x-api-key`` —
against the real stack: events published to Kafka, folded by a worker into
PostgreSQL, served by the API over HTTP. Its one call that maps to our API,
``invoices.get_customer_invoice_summary`` (GET /customers/{id}/invoices/summary),
succeeds and fails as the SDK expects: errors reach it as its own
``ErrorResponse`` (400, 500: parsed ``code``, ``message``, ``http_status_code``)
or its ``FlexpriceDefaultError`` with our JSON body (the statuses its
generated code leaves undeclared: 401, 404)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from flexprice import Flexprice, models
from flexprice.models import errors

from contracts import InvoiceEventPublisher
from services.api.flexprice import queries
from services.settings import Settings
from tests.services.api.dataset import customer_history

pytestmark = pytest.mark.integration


@pytest.fixture
async def published(settings: Settings, running_worker: asyncio.Event) -> str:
    """acme's and globex's invoices of tests/services/api/dataset.py, through
    Kafka; the publisher's freshness token."""
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        await publisher.publish_many(customer_history()[1])
        return publisher.position_token()


@pytest.fixture
async def sdk(api_url: str, api_key: str) -> AsyncIterator[Flexprice]:
    """The SDK as a Flexprice user sets it up, with our base URL in place of theirs."""
    async with Flexprice(server_url=f"{api_url}/v1", api_key_auth=api_key, timeout_ms=30_000) as client:
        yield client


async def test_the_customer_invoice_summary_through_the_sdk(
    sdk: Flexprice, published: str, api_url: str, api_key: str
) -> None:
    # The SDK's call takes extra headers: read-your-writes with the publisher's token.
    summary = await sdk.invoices.get_customer_invoice_summary_async(
        id="cus-9", http_headers={"X-Min-Position": published}
    )
    assert isinstance(summary, models.CustomerMultiCurrencyInvoiceSummary)
    assert (summary.customer_id, summary.default_currency) == ("cus-9", "USD")
    assert summary.summaries is not None
    by_currency = {s.currency: s for s in summary.summaries}
    assert list(by_currency) == ["EUR", "USD"]  # GBP holds only a draft: no summary
    eur, usd = by_currency["EUR"], by_currency["USD"]
    assert (eur.total_invoice_count, eur.total_revenue_amount, eur.total_unpaid_amount) == (2, "213.33", "183.33")
    assert (eur.unpaid_usage_charges, eur.unpaid_fixed_charges, eur.unpaid_invoice_count) == ("83.33", "100.00", 2)
    assert (usd.total_invoice_count, usd.total_revenue_amount, usd.total_unpaid_amount) == (1, "120.00", "0.00")
    # Everything the API said, the SDK read: field for field the plain HTTP answer.
    async with httpx.AsyncClient(base_url=api_url, headers={"x-api-key": api_key}) as http:
        raw = (await http.get("/v1/customers/cus-9/invoices/summary")).json()
    assert summary.model_dump(mode="json") == raw


async def test_the_sdks_blocking_client_works_too(sdk: Flexprice, published: str) -> None:
    summary = await asyncio.to_thread(
        sdk.invoices.get_customer_invoice_summary, id="cus-9", http_headers={"X-Min-Position": published}
    )
    assert summary.summaries is not None and [s.currency for s in summary.summaries] == ["EUR", "USD"]


async def test_an_unknown_customer_is_the_sdks_404_error_with_our_message(sdk: Flexprice, published: str) -> None:
    with pytest.raises(errors.FlexpriceError) as caught:
        await sdk.invoices.get_customer_invoice_summary_async(id="nobody", http_headers={"X-Min-Position": published})
    error = caught.value
    assert isinstance(error, errors.FlexpriceDefaultError)  # the SDK declares no 404 model
    assert error.status_code == 404
    assert "Content-Type" not in error.message  # application/json: the SDK found its content type
    body = json.loads(error.body)
    assert (body["code"], body["message"], body["http_status_code"]) == (
        "not_found",
        "no invoices for customer 'nobody'",
        404,
    )
    assert "no invoices for customer 'nobody'" in str(error)


@pytest.mark.parametrize(
    "customer, headers, parameter",
    [
        ("c" * 1001, {}, "id"),  # longer than any parameter value may be
        ("cus-9", {"X-Min-Position": "soon"}, "X-Min-Position"),
        ("cus-9", {"X-Min-Position": "other-topic:0=1"}, "X-Min-Position"),
    ],
)
async def test_a_bad_parameter_is_the_sdks_validation_error(
    sdk: Flexprice, published: str, customer: str, headers: dict[str, str], parameter: str
) -> None:
    with pytest.raises(errors.ErrorResponse) as caught:
        await sdk.invoices.get_customer_invoice_summary_async(id=customer, http_headers=headers)
    error = caught.value
    assert error.status_code == 400
    assert error.data.code == "validation_error"
    assert error.data.http_status_code == 400
    assert error.data.message is not None and error.data.message.startswith(f"{parameter}: ")
    assert str(error) == error.data.message  # the SDK surfaces our message as the error's


async def test_a_bad_key_is_the_sdks_unauthorized_error(api_url: str, published: str) -> None:
    async with Flexprice(server_url=f"{api_url}/v1", api_key_auth="bk_not-a-key") as wrong:
        with pytest.raises(errors.FlexpriceDefaultError) as caught:
            await wrong.invoices.get_customer_invoice_summary_async(id="cus-9")
    assert caught.value.status_code == 401
    body = json.loads(caught.value.body)
    assert (body["code"], body["http_status_code"]) == ("permission_denied", 401)
    assert caught.value.headers["www-authenticate"].startswith("Bearer")


async def test_a_server_error_is_the_sdks_internal_error(
    sdk: Flexprice, published: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "CUSTOMER_INVOICE_SUMMARY", "SELECT no_such_column FROM billing_read.invoices")
    with pytest.raises(errors.ErrorResponse) as caught:
        await sdk.invoices.get_customer_invoice_summary_async(id="cus-9")
    assert caught.value.status_code == 500
    assert caught.value.data.code == "internal_error"
    assert caught.value.data.message == "the server could not answer this request"
