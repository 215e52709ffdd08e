"""The one LISTEN connection of an API process: it receives the workers'
change notices (projections/notify.py) and hands them to the hub.

When the connection drops (or stops answering its periodic check), notices
may be lost: once it is back (retried with backoff), every subscriber is
told to refetch and the histories restart from the positions read after
LISTEN — every change past them is noticed again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
from litestar import Litestar

from projections.notify import CHANNEL
from services.api.freshness import read_positions
from services.api.stream.hub import Hub
from services.logging import get_logger

log = get_logger("api.stream")

CHECK_SECONDS = 15.0
FIRST_LISTEN_WAIT_SECONDS = 2.0
CHECK_TIMEOUT_SECONDS = 5.0
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)
# How the connection shows in pg_stat_activity.
APPLICATION_NAME = "billing-api-stream"


class Listener:
    def __init__(self, database_url: str, hub: Hub) -> None:
        self.database_url = database_url
        self.hub = hub
        self.connection: asyncpg.Connection | None = None
        # Set once the first LISTEN is in place.
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Listen until cancelled, reconnecting."""
        failures = 0
        while True:
            try:
                await self._listen()
                failures = 0
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("stream_listen_failed", error=str(error) or type(error).__name__)
            finally:
                self.hub.listening = False
                await self._close()
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1

    async def _listen(self) -> None:
        """One connection's life: LISTEN, resync, then check it until it is lost."""
        lost = asyncio.Event()
        conn = self.connection = await asyncpg.connect(
            self.database_url, timeout=CHECK_TIMEOUT_SECONDS, server_settings={"application_name": APPLICATION_NAME}
        )
        conn.add_termination_listener(lambda _: lost.set())
        await conn.add_listener(CHANNEL, self._notice)
        positions = await read_positions(conn, self.hub.topic)
        self.hub.listening = True
        # Whoever subscribed before (none at start-up) may have missed notices.
        self.hub.refetch_everyone("reconnect", positions.next_offsets)
        self.ready.set()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CHECK_SECONDS):
                    await lost.wait()
            if lost.is_set():
                break
            self.hub.sweep()
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await conn.execute("SELECT 1")
        log.warning("stream_listen_lost")

    def _notice(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            self.hub.receive(str(payload))
        except Exception:  # noqa: BLE001 - one bad notice must not stop the others
            log.exception("stream_notice_failed")

    async def _close(self) -> None:
        conn, self.connection = self.connection, None
        if conn is not None and not conn.is_closed():
            conn.terminate()


@contextlib.asynccontextmanager
async def listening(app: Litestar) -> AsyncIterator[None]:
    """A lifespan: the listen connection runs while the application does."""
    listener = Listener(app.state.settings.database_url, app.state.stream_hub)
    task = asyncio.create_task(listener.run())
    # Serve once listening (resumes then know their history), or soon anyway:
    # the API starts while the database is down, and so do its streams.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(FIRST_LISTEN_WAIT_SECONDS):
            await listener.ready.wait()
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
