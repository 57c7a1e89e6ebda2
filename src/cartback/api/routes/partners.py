"""
Co-marketing partner programs over HTTP (server key): the same as `cartback partners …`.
A program of another store answers 404, as one that does not exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictStr

from cartback.api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_RESPONSES, Problem
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.durations import format_duration, parse_duration
from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.expressions import MAX_LENGTH
from cartback.domain.ports import PartnerProgram
from cartback.services import partners
from cartback.services.partners import MAX_CODES, MAX_PARTNER

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": Problem,
        "description": "Conflict",
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}
router = APIRouter(tags=["partners"], responses=PROBLEM_RESPONSES)

Name = Annotated[str, Path(max_length=64, description="The program's name.")]
Expression = Annotated[StrictStr, Field(max_length=MAX_LENGTH)]
Code = Annotated[StrictStr, Field(max_length=200)]


class PartnerCreate(BaseModel):
    """
    A new program: who the partner is, the carts it is for (`segment`, and `eligibility` if
    any: expressions as in flow files), what it gives, and where its codes come from (`pool`:
    the partner's `codes`, more can be added later; `joint`: created on the store's platform).
    """

    model_config = ConfigDict(extra="forbid")
    name: StrictStr = Field(max_length=64)
    partner: StrictStr = Field(max_length=MAX_PARTNER)
    segment: Expression
    eligibility: Expression | None = None
    kind: StrictStr = Field(max_length=20)
    value: Decimal | None = None
    code_source: StrictStr = Field(default="pool", max_length=10)
    expires_in: StrictStr = Field(default="48h", max_length=20, description="Like `72h`.")
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    codes: list[Code] = Field(default_factory=list, max_length=MAX_CODES)


class PartnerUpdate(BaseModel):
    """
    A change: only the fields given change; `eligibility` and `ends_at` may be null (none).
    """

    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool | None = None
    ends_at: AwareDatetime | None = None
    eligibility: Expression | None = None
    segment: Expression | None = None


class PartnerPublic(BaseModel):
    """
    A partner program.
    """

    name: str
    partner: str
    segment: str
    eligibility: str | None
    kind: str
    value: Decimal
    currency: str
    code_source: str
    expires_in: str
    starts_at: datetime | None
    ends_at: datetime | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class PartnersPublic(BaseModel):
    """
    The store's partner programs by name.
    """

    data: list[PartnerPublic]
    count: int


class CodesIn(BaseModel):
    """
    Codes for a pool program (4 to 64 letters, digits and dashes; upper-cased).
    """

    model_config = ConfigDict(extra="forbid")
    codes: list[Code] = Field(max_length=MAX_CODES)


class CodesAdded(BaseModel):
    """
    New codes, codes the pool had (or listed twice), and codes still free.
    """

    added: int
    duplicates: int
    available: int


class PartnerReportPublic(BaseModel):
    """
    A program's codes given and redeemed, the discount orders got with them (in `currency`),
    and what is left of its pool (null for a joint program).
    """

    name: str
    partner: str
    given: int
    redeemed: int
    discount_total: Decimal
    currency: str
    codes_available: int | None


def _public(program: PartnerProgram) -> PartnerPublic:
    return PartnerPublic(
        name=program.name,
        partner=program.partner,
        segment=program.segment,
        eligibility=program.eligibility,
        kind=program.kind.value,
        value=_amount(program.value),
        currency=program.currency,
        code_source=program.code_source.value,
        expires_in=format_duration(program.expires_in),
        starts_at=program.starts_at,
        ends_at=program.ends_at,
        enabled=program.enabled,
        created_at=program.created_at,
        updated_at=program.updated_at,
    )


def _amount(value: Decimal) -> Decimal:
    """
    The amount without the stored scale's trailing zeros (`15`, `7.5`), never in exponent form.
    """
    return Decimal(format(value.normalize(), "f"))


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        field = FieldError(path="expires_in", message=str(error))
        raise InvalidInput("invalid partner program", errors=[field]) from None


@router.post(
    "/v1/partners",
    response_model=PartnerPublic,
    status_code=201,
    responses=_CONFLICT,
    summary="Create a partner program",
)
def create_partner(
    body: PartnerCreate, principal: ServerPrincipal, request: Request
) -> PartnerPublic:
    """
    Create a co-marketing program. Every bad field answers 400 (codes by index) and nothing is
    written; a name the store uses answers 409.
    """
    container = app_state(request).container
    program = partners.create_program(
        uow=container.uow_factory(),
        clock=container.clock,
        store_id=principal.store.id,
        name=body.name,
        partner=body.partner,
        segment=body.segment,
        eligibility=body.eligibility,
        kind=body.kind,
        value=body.value,
        code_source=body.code_source,
        expires_in=_duration(body.expires_in),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        codes=body.codes,
    )
    return _public(program)


@router.get("/v1/partners", response_model=PartnersPublic, summary="List partner programs")
def read_partners(principal: ServerPrincipal, request: Request) -> PartnersPublic:
    """
    The store's partner programs by name.
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    data = [_public(p) for p in partners.list_programs(uow=uow, store_id=principal.store.id)]
    return PartnersPublic(data=data, count=len(data))


@router.get("/v1/partners/{name}", response_model=PartnerPublic, summary="Read a partner program")
def read_partner(name: Name, principal: ServerPrincipal, request: Request) -> PartnerPublic:
    """
    One partner program.
    """
    uow = app_state(request).container.uow_factory(read_only=True)
    return _public(partners.get_program(uow=uow, store_id=principal.store.id, name=name))


@router.patch(
    "/v1/partners/{name}", response_model=PartnerPublic, summary="Change a partner program"
)
def update_partner(
    name: Name, body: PartnerUpdate, principal: ServerPrincipal, request: Request
) -> PartnerPublic:
    """
    Enable or disable a program, or change its end, eligibility or segment
    (`{"enabled": false}`). Fields left out keep their value; a bad one answers 400 and
    nothing changes.
    """
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    container = app_state(request).container
    program = partners.update_program(
        uow=container.uow_factory(),
        clock=container.clock,
        store_id=principal.store.id,
        name=name,
        changes=changes,
    )
    return _public(program)


@router.post("/v1/partners/{name}/codes", response_model=CodesAdded, summary="Add codes to a pool")
def add_partner_codes(
    name: Name, body: CodesIn, principal: ServerPrincipal, request: Request
) -> CodesAdded:
    """
    Add the partner's codes to a pool program. A bad code answers 400 with its index and
    none is added; codes the pool has are counted as duplicates.
    """
    added = partners.add_codes(
        uow=app_state(request).container.uow_factory(),
        store_id=principal.store.id,
        name=name,
        codes=body.codes,
    )
    return CodesAdded(added=added.added, duplicates=added.duplicates, available=added.available)


@router.get(
    "/v1/partners/{name}/report",
    response_model=PartnerReportPublic,
    summary="Report on a partner program",
)
def read_partner_report(
    name: Name, principal: ServerPrincipal, request: Request
) -> PartnerReportPublic:
    """
    Codes given and redeemed, the discount on the orders that used them, codes left.
    """
    report = partners.program_report(
        uow=app_state(request).container.uow_factory(read_only=True),
        store_id=principal.store.id,
        name=name,
    )
    return PartnerReportPublic(
        name=report.name,
        partner=report.partner,
        given=report.given,
        redeemed=report.redeemed,
        discount_total=_amount(report.discount_total),
        currency=report.currency,
        codes_available=report.codes_available,
    )
