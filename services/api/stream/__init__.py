"""The live stream: GET /v1/stream (Server-Sent Events) and its tokens.

The workers announce their committed changes with NOTIFY
(projections/notify.py); each API process holds one LISTEN connection
(``lifespan``) and fans the notices out to its subscribers in memory (hub.py)."""

from litestar import Router

from services.api.stream.endpoints import stream, stream_token
from services.api.stream.listener import listening

router = Router(path="/", route_handlers=[stream, stream_token], tags=["Live stream"])
lifespan = listening
