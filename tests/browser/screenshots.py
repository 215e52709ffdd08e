"""The README's pictures of the dashboard, taken from a running API (e.g. `make
run`) with Debian's Chromium at desktop and phone width, as palette PNGs:

    .venv/bin/python -m tests.browser.screenshots http://127.0.0.1:8000 <API key> docs/img

(Pillow, of the bench extra, makes them small.)"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from PIL import Image
from playwright.async_api import async_playwright

from tests.browser.conftest import DESKTOP, PHONE

# Enough colours for the page's few; a palette PNG is a fraction of a true-colour one.
COLOURS = 64


async def take(base_url: str, key: str, folder: Path) -> list[Path]:
    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("Debian's chromium is not installed: make browser")
    taken = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        # The whole page at desktop width; the first screen of it on a phone.
        for name, viewport, full_page in (("dashboard-desktop", DESKTOP, True), ("dashboard-phone", PHONE, False)):
            page = await browser.new_page(viewport=viewport)  # type: ignore[arg-type]
            await page.goto(base_url + "/dashboard")
            await page.get_by_label("API key").fill(key)
            await page.get_by_role("button", name="Open").click()
            await page.locator("#trend svg").wait_for()
            await page.locator('#live[data-state="live"]').wait_for()
            path = folder / f"{name}.png"
            await page.screenshot(path=str(path), full_page=full_page)
            taken.append(path)
            await page.close()
        await browser.close()
    return taken


def shrink(path: Path) -> None:
    Image.open(path).convert("RGB").quantize(COLOURS).save(path, optimize=True)


if __name__ == "__main__":
    base, api_key, out = sys.argv[1:4]
    Path(out).mkdir(parents=True, exist_ok=True)
    for written in asyncio.run(take(base, api_key, Path(out))):
        shrink(written)
        print(written, written.stat().st_size, "bytes")
