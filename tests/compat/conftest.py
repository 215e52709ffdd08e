"""Fixtures of the drop-in tests (a vendor's client pointed at our base URL,
changing nothing else): the read API fixtures of tests/services/api."""

from tests.services.api.conftest import client, globex, module_api, seed_schema

__all__ = ["client", "globex", "module_api", "seed_schema"]
