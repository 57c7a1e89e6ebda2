"""
Dashboard operators: create one (every store, or the listed ones), list them, disable one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import structlog

from cartback.domain.errors import Conflict, FieldError, InvalidInput, NotFound
from cartback.domain.operators import Operator, password_problem
from cartback.domain.ports import PasswordHasher, UnitOfWork
from cartback.kit.ids import new_id
from cartback.kit.normalise import normalise_email

log = structlog.get_logger(__name__)


def operator_email(raw: str) -> str:
    """
    The stored form of an operator's email (lower-cased, validated).

    Raises:
        InvalidInput: not an email address.
    """
    try:
        return normalise_email(raw)
    except ValueError:
        raise InvalidInput(
            "not a valid email address", errors=[FieldError(path="email", message="invalid")]
        ) from None


def create_operator(
    *,
    uow: UnitOfWork,
    hasher: PasswordHasher,
    now: datetime,
    email: str,
    password: str,
    all_stores: bool,
    store_ids: Sequence[str] = (),
) -> Operator:
    """
    A new operator who may see every store (`all_stores`) or exactly `store_ids`.

    Raises:
        InvalidInput: a bad email or password, no stores or both kinds, an unknown store.
        Conflict: an operator with this email exists.
    """
    address = operator_email(email)
    errors = _access_errors(all_stores, store_ids)
    problem = password_problem(password)
    if problem:
        errors.append(FieldError(path="password", message=problem))
    if errors:
        raise InvalidInput("the operator is not valid", errors=errors)
    operator = Operator(
        id=new_id("op"),
        email=address,
        password_hash=hasher.hash(password),
        all_stores=all_stores,
        store_ids=frozenset(store_ids),
        created_at=now,
    )
    with uow:
        unknown = [s for s in sorted(operator.store_ids) if uow.stores.get(s) is None]
        if unknown:
            raise InvalidInput(
                f"no such store: {', '.join(unknown)}",
                errors=[FieldError(path="store", message=f"unknown store {s}") for s in unknown],
            )
        if uow.operators.by_email(address) is not None:
            raise Conflict(f"an operator with the email {address} exists")
        uow.operators.add(operator)
        uow.commit()
    log.info("operator.created", operator_id=operator.id, all_stores=all_stores)
    return operator


def _access_errors(all_stores: bool, store_ids: Sequence[str]) -> list[FieldError]:
    if all_stores and store_ids:
        return [FieldError(path="store", message="give --all-stores or stores, not both")]
    if not all_stores and not store_ids:
        return [FieldError(path="store", message="give --all-stores or at least one store")]
    return []


def list_operators(*, uow: UnitOfWork) -> list[Operator]:
    """
    Every operator, by email.
    """
    with uow:
        return uow.operators.list_all()


def disable_operator(*, uow: UnitOfWork, now: datetime, email: str) -> Operator:
    """
    Disable an operator: no more sign-ins, and every session ends now.

    Raises:
        NotFound: no operator has this email.
    """
    address = operator_email(email)
    with uow:
        operator = uow.operators.by_email(address)
        if operator is None:
            raise NotFound(f"no operator with the email {address}")
        if operator.active:
            operator = replace(operator, disabled_at=now)
            uow.operators.save(operator)
        ended = uow.operators.delete_sessions(operator.id)
        uow.commit()
    log.info("operator.disabled", operator_id=operator.id, sessions_ended=ended)
    return operator
