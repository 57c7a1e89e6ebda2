"""
Privacy rights over the API (`contract.md` §5.5): export and erase one person's data. Server
keys only; another store's contact answers 404, never data.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from cartback.api.contact_schemas import ContactExport, contact_export
from cartback.api.errors import PROBLEM_RESPONSES
from cartback.api.routes.carts import ServerPrincipal
from cartback.api.state import app_state
from cartback.domain.errors import NotFound
from cartback.services.privacy import erase_contact, export_contact

router = APIRouter(tags=["contacts"], responses=PROBLEM_RESPONSES)

#: Contact ids are `ct_` and Crockford base32 (`kit/ids.py`); anything else names no contact.
_CONTACT_ID = re.compile(r"ct_[0-9a-z]{1,29}")


def _checked(contact_id: str) -> str:
    # A malformed id is simply not found: it never reaches the database (PostgreSQL refuses
    # NUL in a parameter) and says nothing about which ids exist.
    if not _CONTACT_ID.fullmatch(contact_id):
        raise NotFound(f"no contact {contact_id!r} in this store")
    return contact_id


@router.get(
    "/v1/contacts/{contact_id}",
    response_model=ContactExport,
    summary="Export everything held about a person",
)
async def read_contact(
    contact_id: str,
    principal: ServerPrincipal,
    request: Request,
    response: Response,
    download: Annotated[bool, Query(description="Send as a file to save.")] = False,
) -> ContactExport:
    """
    The contact, their visitors, carts with lines, orders, the whole consent ledger history,
    suppressions of their addresses, their replies, SMS confirmations and the raw events that
    belong to them, as one JSON document (format `cartback.contact-export.v1`, described in
    docs/privacy.md). With `download=1` it comes as `contact-<id>.json`.
    """
    state = app_state(request)
    store_id = principal.store.id
    data = await run_in_threadpool(
        export_contact,
        uow=state.container.uow_factory(read_only=True),
        store_id=store_id,
        contact_id=_checked(contact_id),
    )
    if download:
        response.headers["Content-Disposition"] = f"attachment; filename=contact-{contact_id}.json"
    return contact_export(data, store_id=store_id, now=state.container.clock.now())


@router.delete(
    "/v1/contacts/{contact_id}",
    status_code=204,
    response_class=Response,
    summary="Erase a person everywhere",
)
async def delete_contact(contact_id: str, principal: ServerPrincipal, request: Request) -> Response:
    """
    Erase the person in one transaction: the contact, their visitors, consent details, replies,
    SMS confirmations and the raw events naming them; carts and orders stay without them, and
    their suppressed addresses stay only hashed, so they are still never messaged. A second
    call answers 404.
    """
    state = app_state(request)
    await run_in_threadpool(
        erase_contact,
        uow=state.container.uow_factory(),
        store_id=principal.store.id,
        contact_id=_checked(contact_id),
    )
    return Response(status_code=204)
