"""The API reference pages render their operations with no network."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import Offline

pytestmark = pytest.mark.integration

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.mark.parametrize("path", ["/schema", "/schema/swagger"])
async def test_the_reference_lists_every_operation_offline(
    api_url: str, browsing: tuple[Page, Offline], path: str
) -> None:
    async with httpx.AsyncClient(base_url=api_url) as http:
        document = (await http.get("/schema/openapi.json")).json()
    operations = [
        (method.upper(), route) for route, item in document["paths"].items() for method in item if method in METHODS
    ]
    page, seen = browsing

    await page.goto(api_url + path)

    await expect(page.locator(".opblock")).to_have_count(len(operations), timeout=15_000)
    shown = await page.locator(".opblock-summary-path").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('data-path'))"
    )
    assert sorted(shown) == sorted(route for _, route in operations)
    assert seen.blocked == []
