"""/dashboard: a page for people, served with its assets from the installed
package (no CDN): figures per currency, aging, the trend, top debtors and an
invoice search, kept live by /v1/stream. The page itself is public; its data
calls carry the key the person enters."""

from litestar import Router

from services.api.dashboard.endpoints import assets, page

router = Router(path="/", route_handlers=[page, assets])
