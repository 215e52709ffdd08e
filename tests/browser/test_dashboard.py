"""/dashboard in a real browser against the real worker, Kafka and PostgreSQL:
what it shows is what the API answers, it moves when events arrive, the asOf
picker moves the aging, it fits a phone's width, and it reaches nothing but
its own origin."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from contracts import InvoiceEventPublisher
from services.settings import Settings
from tests.browser.conftest import PHONE, Offline
from tests.factories import InvoiceBuilder, line

pytestmark = pytest.mark.integration

EARLIER = "2026-04-20"


def history() -> list[Any]:
    """Two currencies, three customers; dues spread so that the aging today and
    as of EARLIER differ (one EUR invoice 20 days late then, none of the rest)."""
    march = InvoiceBuilder(customer="cus-1", currency="EUR", lines=[line(net=100000, tax=21000)])
    may = InvoiceBuilder(
        customer="cus-2", currency="EUR", lines=[line(net=40050, tax=0)], due_date=dt.date(2026, 5, 15)
    )
    draft = InvoiceBuilder(customer="cus-2", currency="EUR", lines=[line(net=999, tax=0)])
    pounds = InvoiceBuilder(
        customer="cus-3", currency="GBP", lines=[line(net=7500, tax=1500)], due_date=dt.date(2026, 10, 1)
    )
    return [
        march.created(),
        march.sent(),
        march.paid("500.00"),
        may.created(),
        may.sent(),
        draft.created(),
        pounds.created(),
        pounds.sent(at=dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)),
    ]


class Dashboard:
    """The API as a client sees it, and the page as a person sees it."""

    def __init__(self, api_url: str, key: str, publisher: InvoiceEventPublisher, page: Page) -> None:
        self.api_url, self.key, self.publisher, self.page = api_url, key, publisher, page

    async def api(self, path: str, **params: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.api_url, timeout=30) as http:
            response = await http.get(
                path,
                params={**params, "minPosition": self.publisher.position_token()},
                headers={"Authorization": f"Bearer {self.key}"},
            )
        assert response.status_code == 200, response.text
        return response

    async def open(self) -> None:
        await self.page.goto(self.api_url + "/dashboard")
        # By keyboard: the key field takes focus, Enter opens.
        await expect(self.page.get_by_label("API key")).to_be_focused()
        await self.page.keyboard.type(self.key)
        await self.page.keyboard.press("Enter")
        await expect(self.page.locator(".card").first).to_be_visible()

    def figure(self, currency: str, name: str) -> Any:
        return self.page.locator(f'.card[data-currency="{currency}"] [data-figure="{name}"] .amount')

    def bucket(self, currency: str, bucket: str) -> Any:
        return self.page.locator(f'.aging-currency[data-currency="{currency}"] li[data-bucket="{bucket}"] .amount')


def shown(amount: str) -> str:
    """An amount as the page groups it: 1234567.89 -> 1,234,567.89."""
    whole, _, fraction = amount.partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


@pytest.fixture
async def seeded(
    settings: Settings, running_worker: asyncio.Event, api_url: str, api_key: str, browsing: tuple[Page, Offline]
) -> Any:
    page, seen = browsing
    async with InvoiceEventPublisher(settings.kafka_bootstrap, settings.topic) as publisher:
        await publisher.publish_many(history())
        dashboard = Dashboard(api_url, api_key, publisher, page)
        await dashboard.api("/v1/summary")  # caught up
        yield dashboard
    assert seen.blocked == [], "the page reached beyond its own origin"
    assert seen.errors == [], "the page logged errors (a CSP violation is one)"


async def test_the_page_shows_the_apis_figures_and_what_they_reflect(seeded: Dashboard) -> None:
    summary = await seeded.api("/v1/summary")
    await seeded.open()

    currencies = [s["currency"] for s in summary.json()["summaries"]]
    assert currencies == ["EUR", "GBP"]
    await expect(seeded.page.locator(".card")).to_have_count(2)
    for s in summary.json()["summaries"]:
        code = s["currency"]
        await expect(seeded.figure(code, "receivable")).to_have_text(shown(s["receivable"]["balance"]))
        await expect(seeded.figure(code, "overdue")).to_have_text(shown(s["overdue"]["balance"]))
        await expect(seeded.figure(code, "collected")).to_have_text(shown(s["collected"]))
        await expect(seeded.figure(code, "revenue")).to_have_text(shown(s["revenue"]))
        for bucket in s["overdue"]["aging"]:
            await expect(seeded.bucket(code, bucket["bucket"])).to_have_text(shown(bucket["amount"]))
    await expect(seeded.page.locator("#position")).to_have_text(summary.headers["X-Projection-Position"])

    debtors = (await seeded.api("/v1/customers", currency="EUR", sortBy="overdueBalance", sortOrder="DESC")).json()
    rows = seeded.page.locator("#debtors tbody tr")
    await expect(rows).to_have_count(len(debtors["items"]))
    for index, customer in enumerate(debtors["items"]):
        row = rows.nth(index)
        assert await row.get_attribute("data-customer") == customer["customerId"]
        await expect(row.locator('[data-figure="overdue"] .amount')).to_have_text(shown(customer["overdue"]["balance"]))


async def test_published_events_move_the_cards_without_a_reload_within_two_seconds(seeded: Dashboard) -> None:
    await seeded.open()
    page = seeded.page
    await expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=10_000)
    await page.evaluate("window.loadedOnce = true")
    before = Decimal((await seeded.figure("EUR", "receivable").inner_text()).replace(",", ""))

    june = InvoiceBuilder(customer="cus-4", currency="EUR", lines=[line(net=25025, tax=5000)])
    published = time.monotonic()
    await seeded.publisher.publish_many([june.created(), june.sent()])

    await expect(seeded.figure("EUR", "receivable")).to_have_text(shown(str(before + Decimal("300.25"))), timeout=2000)
    moved = time.monotonic() - published
    assert moved < 2
    assert await page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    summary = (await seeded.api("/v1/summary")).json()
    await expect(seeded.figure("EUR", "receivable")).to_have_text(
        shown(summary["summaries"][0]["receivable"]["balance"])
    )


async def test_the_as_of_picker_moves_the_aging(seeded: Dashboard) -> None:
    today = (await seeded.api("/v1/summary")).json()["summaries"][0]["overdue"]["aging"]
    earlier = (await seeded.api("/v1/summary", asOf=EARLIER)).json()["summaries"][0]["overdue"]["aging"]
    assert today != earlier
    await seeded.open()
    for bucket in today:
        await expect(seeded.bucket("EUR", bucket["bucket"])).to_have_text(shown(bucket["amount"]))

    await seeded.page.get_by_label("As of").fill(EARLIER)

    for bucket in earlier:
        await expect(seeded.bucket("EUR", bucket["bucket"])).to_have_text(shown(bucket["amount"]))
    assert earlier[0]["count"] == 1  # the March invoice, 20 days late then


async def test_the_invoice_search_lists_what_the_api_finds(seeded: Dashboard) -> None:
    found = (await seeded.api("/v1/invoices", search="INV-")).json()
    await seeded.open()

    await seeded.page.get_by_label("Invoice number contains").fill("INV-")
    await seeded.page.get_by_role("button", name="Search").click()

    rows = seeded.page.locator("#invoices tbody tr")
    await expect(rows).to_have_count(len(found["items"]))
    assert [await row.get_attribute("data-invoice") for row in await rows.all()] == [i["id"] for i in found["items"]]


@pytest.mark.parametrize("viewport", [PHONE])
async def test_the_page_fits_a_phone_and_keeps_the_key_to_the_tab(seeded: Dashboard, api_key: str) -> None:
    page = seeded.page
    response = await page.goto(seeded.api_url + "/dashboard")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    await seeded.open()

    assert await page.evaluate("window.innerWidth") == PHONE["width"]
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.evaluate("sessionStorage.getItem('billing.apiKey')") == api_key
    assert await page.evaluate("localStorage.length") == 0
    assert await page.evaluate("document.cookie") == ""
    await page.get_by_role("button", name="Forget key").click()
    assert await page.evaluate("sessionStorage.getItem('billing.apiKey')") is None
    await expect(page.locator("main")).to_be_hidden()
