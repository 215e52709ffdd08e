"""The dashboard's page and its static files (services/api/dashboard/static)."""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

STATIC = Path(__file__).parent / "static"
PATH = "/dashboard"
ASSETS = PATH + "/assets"

# Everything the page loads or calls is this origin's: no inline script or
# style, no frames, no other hosts. (Scripts still set element.style through
# the CSSOM, which style-src does not govern: that draws the bars.)
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The page holds no figures itself; a new release's assets are picked up at once.
    "Cache-Control": "no-cache",
}
PAGE = (STATIC / "index.html").read_bytes()


@get(PATH, include_in_schema=False, media_type=MediaType.HTML)
async def page() -> Response[bytes]:
    return Response(PAGE, headers=PAGE_HEADERS)


assets = create_static_files_router(
    ASSETS, [STATIC], name="dashboard-assets", cache_control=CacheControlHeader(no_cache=True)
)
