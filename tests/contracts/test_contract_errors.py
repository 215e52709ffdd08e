"""The quarantine reasons and the contract error."""

from __future__ import annotations

import pickle
import re

from contracts.errors import ContractError, Reason, quoted


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
    assert (error.reason, error.detail) == (Reason.MALFORMED, "not JSON")


def test_long_values_are_cut_short_in_details() -> None:
    assert quoted("1.5") == "'1.5'"
    assert quoted("9" * 100) == "'" + "9" * 40 + "...'"
