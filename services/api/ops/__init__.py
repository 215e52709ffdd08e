"""Operations: health, readiness, metrics and the projections' status; and
the background lag watch they read (``lifespan``)."""

from litestar import Router

from services.api.ops.endpoints import Metrics, live, projections_status, ready
from services.api.ops.lag import lag_watch

router = Router(path="/", route_handlers=[live, ready, projections_status, Metrics])
lifespan = lag_watch
