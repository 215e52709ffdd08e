"""Partner Center's answer, with its published field names; amounts are exact
JSON numbers in major units, dates strings in its formats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec
from msgspec import Meta

from services.api.problems import Problem


class PartnerCenterLink(msgspec.Struct):
    uri: str
    method: str
    headers: list[str]


class PartnerCenterLinks(msgspec.Struct):
    self_: PartnerCenterLink = msgspec.field(name="self")


class PartnerCenterAttributes(msgspec.Struct):
    objectType: str


_PC_DATE = "Date as YYYY-MM-DDT00:00:00; 0001-01-01T00:00:00 when there is none"


class PartnerCenterSummaryFields(msgspec.Struct):
    balanceAmount: Decimal
    currencyCode: str
    currencySymbol: str
    accountingDate: Annotated[str, Meta(description=_PC_DATE)]
    firstInvoiceCreationDate: Annotated[str, Meta(description=_PC_DATE)]
    lastPaymentDate: Annotated[str, Meta(description="RFC 3339 timestamp; 0001-01-01T00:00:00 when there is none")]
    lastPaymentAmount: Decimal
    latestInvoiceDate: Annotated[str, Meta(description=_PC_DATE)]


class PartnerCenterDetailSummary(PartnerCenterSummaryFields):
    attributes: PartnerCenterAttributes


class PartnerCenterInvoiceSummaryDetail(msgspec.Struct):
    invoiceType: Annotated[str, Meta(description="Recurring or OneTime")]
    summary: PartnerCenterDetailSummary


class PartnerCenterInvoiceSummary(PartnerCenterSummaryFields):
    details: list[PartnerCenterInvoiceSummaryDetail]
    links: PartnerCenterLinks
    attributes: PartnerCenterAttributes


class PartnerCenterInvoiceSummaries(msgspec.Struct):
    totalCount: int
    items: list[PartnerCenterInvoiceSummary]
    links: PartnerCenterLinks
    attributes: PartnerCenterAttributes


class PartnerCenterProblem(Problem, kw_only=True):
    """The RFC 9457 problem with the members of Partner Center's REST error
    (its error-codes page: ``code``, ``description``, ``source``)."""

    code: Annotated[str, Meta(description="The kind of error: the HTTP status code, as a string")]
    description: Annotated[str, Meta(description="What went wrong (the problem's detail)")]
    source: Annotated[str, Meta(description="The source of the error: this service")]
