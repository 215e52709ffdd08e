"""The quarantine reasons and the contract error."""

from __future__ import annotations

import copy
import pickle
import re

from contracts.errors import ContractError, EventIdentity, Reason, quoted


def test_reason_codes_are_unique_stable_snake_case() -> None:
    values = [reason.value for reason in Reason]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", value) for value in values)
    assert all(reason.value == reason.name.lower() for reason in Reason)
    assert Reason("money_precision") is Reason.MONEY_PRECISION


def test_a_contract_error_carries_its_reason_and_detail() -> None:
    error = ContractError(Reason.TOTALS_MISMATCH, "data.net_total: '1.00' is not the sum")
    assert error.reason is Reason.TOTALS_MISMATCH
    assert error.detail == "data.net_total: '1.00' is not the sum"
    assert str(error) == "totals_mismatch: data.net_total: '1.00' is not the sum"


def test_a_contract_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(ContractError(Reason.MALFORMED, "not JSON")))
    assert (error.reason, error.detail, error.identity) == (Reason.MALFORMED, "not JSON", None)


def test_a_contract_error_keeps_an_identity_set_after_it_was_made_through_pickling_and_copying() -> None:
    error = ContractError(Reason.SCHEMA_VIOLATION, "Expected `int` - at `$.sequence`")
    error.identity = EventIdentity(tenantid="acme", id="evt_1", subject="inv_1", type="invoice.sent")
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error), copy.deepcopy(error)):
        assert isinstance(clone, ContractError)
        assert (clone.reason, clone.detail, clone.identity) == (error.reason, error.detail, error.identity)
    assert str(error) == "schema_violation: Expected `int` - at `$.sequence`"


def test_long_values_are_cut_short_in_details() -> None:
    assert quoted("1.5") == "'1.5'"
    assert quoted("9" * 100) == "'" + "9" * 40 + "...'"
