"""The API moves what its startup built (modules, routes, schemas) out of the
garbage collector's scans, so a full collection, which pauses every request
in flight, scans only what requests left behind."""

from __future__ import annotations

import gc

import pytest

from services.settings import Settings
from tests.serving import running_api

pytestmark = pytest.mark.integration


async def test_the_objects_of_startup_are_frozen_once_the_api_serves(settings: Settings) -> None:
    gc.unfreeze()
    try:
        async with running_api(settings):
            frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()  # the test process's own collections are not under test
    # Litestar's routes and OpenAPI models alone are tens of thousands of objects.
    assert frozen > 20_000
