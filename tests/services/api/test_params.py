"""Parameter declarations: every parameter the OpenAPI document lists is
declared next to the route that takes it, and one name means one set of limits."""

from __future__ import annotations

from typing import Any

import pytest
from litestar._openapi.plugin import OpenAPIPlugin

from services.api import params
from services.api.app import create_app
from services.settings import Settings


def test_every_documented_parameter_is_declared_with_its_limits() -> None:
    settings = Settings.from_env({})
    app: Any = create_app(settings)
    document = app.app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    names = {
        parameter["name"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] in ("query", "path")
    }
    assert names >= {"minPosition", "asOf", "invoiceStatus", "after", "start_date", "id", "invoiceId"}
    for name in names:
        assert params.limits(name) is not params.PLAIN, name
    assert params.limits("after").longest(settings) == 4 * settings.max_parameter_length
    assert params.limits("noSuchParameter") is params.PLAIN


def test_a_name_declared_again_with_other_limits_is_refused() -> None:
    with pytest.raises(ValueError, match="minPosition"):
        params.Param("minPosition", "the same name, other limits", params.DATE)
    params.Param("minPosition", "another description, the same limits", **_limits_of_min_position())


def _limits_of_min_position() -> dict[str, Any]:
    declared = params.limits("minPosition")
    return {"schema": declared.schema, "comma_list": declared.comma_list, "length_factor": declared.length_factor}
