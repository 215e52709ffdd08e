"""A real Chromium (Debian's package, installed by `make browser`) driven by
Playwright against the API served in the test's process. Every page runs with
the network cut off: any request to a host other than loopback is aborted and
recorded, so a page that reaches out fails its test."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: `make browser` installs it (apt-get, as root)")
    async with async_playwright() as playwright:
        # The sandbox needs user namespaces that containers (and root) often lack.
        launched = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        await launched.close()


@dataclass
class Offline:
    """What a page asked of the outside world (aborted) and what it logged as an error."""

    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def offline_page(browser: Browser, viewport: dict[str, int]) -> tuple[BrowserContext, Page, Offline]:
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    seen = Offline()

    async def only_loopback(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if host in LOOPBACK or route.request.url.startswith(("data:", "blob:")):
            await route.continue_()
        else:
            seen.blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_loopback)
    page = await context.new_page()
    page.on("console", lambda message: seen.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    # The console says "status of 500" without the address: name it.
    page.on(
        "response",
        lambda response: seen.errors.append(f"{response.status} {response.url}") if response.status >= 500 else None,
    )
    return context, page, seen


@pytest.fixture
def viewport() -> dict[str, int]:
    """Desktop width; a test takes a phone's with ``@pytest.mark.parametrize("viewport", [PHONE])``."""
    return DESKTOP


@pytest.fixture
async def browsing(browser: Browser, viewport: dict[str, int]) -> AsyncIterator[tuple[Page, Offline]]:
    context, page, seen = await offline_page(browser, viewport)
    yield page, seen
    await context.close()
