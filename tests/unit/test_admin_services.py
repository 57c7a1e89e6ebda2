"""
Dashboard operators, sessions and reads on fakes: the pure session rules, creating and
disabling operators, signing in (one refusal for every reason, the same work for unknown
emails, rehashing), finding and ending sessions, and store scoping of the cart reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from starlette.requests import Request

from cartback.api.admin._state import AdminState
from cartback.domain.cart import Cart, CartStatus
from cartback.domain.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from cartback.domain.events import LineItem, Stage
from cartback.domain.operators import (
    Operator,
    OperatorSession,
    SessionPolicy,
    SessionState,
    password_problem,
    session_state,
)
from cartback.domain.ports import CartEvent, CartFilters, CartRecord
from cartback.domain.stores import Platform, Store
from cartback.kit.keys import digest_key
from cartback.services.dashboard import access_store, cart_timeline, list_carts, visible_stores
from cartback.services.operator_sessions import (
    SIGN_IN_REFUSED,
    current_session,
    sign_in,
    sign_out,
)
from cartback.services.operators import create_operator, disable_operator, list_operators
from cartback.settings import PasswordHashProfile
from fakes import FakeUnitOfWorkFactory

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
POLICY = SessionPolicy(idle=timedelta(minutes=30), lifetime=timedelta(hours=12))
PASSWORD = "correct horse battery staple"


@dataclass
class FakeHasher:
    """
    Reversible "hashes" (`v2$…`; `v1$…` needs a rehash) that record wasted verifications.
    """

    wasted: list[str] = field(default_factory=list)

    def hash(self, password: str) -> str:
        return "v2$" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash.split("$", 1)[1] == password

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith("v2$")

    def waste(self, password: str) -> None:
        self.wasted.append(password)


def _store(factory: FakeUnitOfWorkFactory, store_id: str, name: str = "Shop") -> Store:
    store = Store(
        id=store_id,
        name=name,
        platform=Platform.CUSTOM,
        domains=("shop.example.com",),
        currency="USD",
        timezone="UTC",
        abandon_after=timedelta(minutes=30),
        recovery_window=timedelta(days=7),
        created_at=NOW,
        updated_at=NOW,
    )
    factory.database.stores[store_id] = store
    return store


def _operator(
    factory: FakeUnitOfWorkFactory, *stores: str, email: str = "ops@example.com"
) -> Operator:
    return create_operator(
        uow=factory(),
        hasher=FakeHasher(),
        now=NOW,
        email=email,
        password=PASSWORD,
        all_stores=not stores,
        store_ids=stores,
    )


def _session(**changes: datetime) -> OperatorSession:
    values = {"created_at": NOW, "last_seen_at": NOW, "expires_at": NOW + POLICY.lifetime}
    values.update(changes)
    return OperatorSession(digest="d", operator_id="op_1", csrf_token="t", **values)


# --- pure rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("later", "seen", "expected"),
    [
        (timedelta(minutes=29), timedelta(0), SessionState.LIVE),
        (timedelta(minutes=30), timedelta(0), SessionState.IDLE),
        (timedelta(hours=11, minutes=59), timedelta(hours=11, minutes=50), SessionState.LIVE),
        (timedelta(hours=12), timedelta(hours=11, minutes=59), SessionState.EXPIRED),
    ],
)
def test_a_session_is_live_until_idle_or_past_its_absolute_end(
    later: timedelta, seen: timedelta, expected: SessionState
) -> None:
    """
    Idle after 30 minutes without a request; expired 12 hours after sign-in, however busy.
    """
    session = _session(last_seen_at=NOW + seen)
    assert expected == session_state(session, policy=POLICY, now=NOW + later)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short", "at least 12"),
        ("x" * 11, "at least 12"),
        (" " * 12, "blank"),
        ("x" * 1025, "at most 1024"),
        ("x" * 12, None),
    ],
)
def test_password_rules(password: str, problem: str | None) -> None:
    """
    At least 12 characters, not blank, at most 1024.
    """
    found = password_problem(password)
    assert (problem is None) == (found is None)
    if problem:
        assert found is not None
        assert problem in found


def test_an_operator_sees_its_stores_or_all_and_nothing_once_disabled() -> None:
    """
    `may_see` follows the store list, `all_stores`, and the disabled flag.
    """
    some = Operator(
        id="op_1",
        email="a@example.com",
        password_hash="h",
        all_stores=False,
        store_ids=frozenset({"st_1"}),
        created_at=NOW,
    )
    every = Operator(
        id="op_2",
        email="b@example.com",
        password_hash="h",
        all_stores=True,
        store_ids=frozenset(),
        created_at=NOW,
        disabled_at=None,
    )
    gone = Operator(
        id="op_3",
        email="c@example.com",
        password_hash="h",
        all_stores=True,
        store_ids=frozenset(),
        created_at=NOW,
        disabled_at=NOW,
    )
    assert (True, False) == (some.may_see("st_1"), some.may_see("st_2"))
    assert every.may_see("st_anything")
    assert not gone.may_see("st_1")


# --- operators --------------------------------------------------------------------------


def test_creating_an_operator_keeps_only_the_hash() -> None:
    """
    The email is normalised; the stored hash is the hasher's, never the password.
    """
    factory = FakeUnitOfWorkFactory()
    _store(factory, "st_1")
    created = _operator(factory, "st_1", email=" Ops@Example.COM ")
    [stored] = list_operators(uow=factory())
    assert ("ops@example.com", frozenset({"st_1"})) == (stored.email, stored.store_ids)
    assert "v2$" + PASSWORD == stored.password_hash
    assert created.id == stored.id


def test_creating_reports_every_invalid_field_and_writes_nothing() -> None:
    """
    A short password and a missing store list are both reported.
    """
    factory = FakeUnitOfWorkFactory()
    with pytest.raises(InvalidInput) as raised:
        create_operator(
            uow=factory(),
            hasher=FakeHasher(),
            now=NOW,
            email="a@example.com",
            password="short",
            all_stores=False,
        )
    assert {"store", "password"} == {e.path for e in raised.value.errors}
    assert {} == factory.database.admin.operators


def test_creating_refuses_unknown_stores_and_duplicate_emails() -> None:
    """
    A store that does not exist is invalid input; a taken email is a conflict.
    """
    factory = FakeUnitOfWorkFactory()
    with pytest.raises(InvalidInput, match="no such store: st_x"):
        _operator(factory, "st_x")
    _operator(factory)
    with pytest.raises(Conflict):
        _operator(factory, email="OPS@example.com")
    assert 1 == len(factory.database.admin.operators)


def test_disabling_ends_every_session() -> None:
    """
    A disabled operator keeps no session.
    """
    factory = FakeUnitOfWorkFactory()
    _operator(factory)
    hasher = FakeHasher()
    for _ in range(2):
        sign_in(
            uow_factory=factory,
            hasher=hasher,
            policy=POLICY,
            now=NOW,
            email="ops@example.com",
            password=PASSWORD,
        )
    disabled = disable_operator(uow=factory(), now=NOW, email="ops@example.com")
    assert NOW == disabled.disabled_at
    assert {} == factory.database.admin.sessions
    with pytest.raises(NotFound):
        disable_operator(uow=factory(), now=NOW, email="nobody@example.com")


# --- sign-in and sessions ---------------------------------------------------------------


def test_signing_in_stores_the_tokens_digest_not_the_token() -> None:
    """
    The session row is keyed by SHA-256 of the cookie's token and lasts the policy's lifetime.
    """
    factory = FakeUnitOfWorkFactory()
    _operator(factory)
    signed = sign_in(
        uow_factory=factory,
        hasher=FakeHasher(),
        policy=POLICY,
        now=NOW,
        email="ops@example.com",
        password=PASSWORD,
    )
    assert [digest_key(signed.token)] == list(factory.database.admin.sessions)
    assert NOW + POLICY.lifetime == signed.session.expires_at
    assert NOW == factory.database.admin.operators[signed.operator.id].last_login_at


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ops@example.com", "wrong password here"),
        ("nobody@example.com", PASSWORD),
        ("gone@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ],
    ids=["wrong-password", "unknown", "disabled", "unreadable"],
)
def test_every_refusal_is_the_same_and_opens_nothing(email: str, password: str) -> None:
    """
    Wrong password, unknown or unreadable email, disabled operator: one message, no session.
    """
    factory = FakeUnitOfWorkFactory()
    _operator(factory)
    _operator(factory, email="gone@example.com")
    disable_operator(uow=factory(), now=NOW, email="gone@example.com")
    with pytest.raises(Unauthenticated) as raised:
        sign_in(
            uow_factory=factory,
            hasher=FakeHasher(),
            policy=POLICY,
            now=NOW,
            email=email,
            password=password,
        )
    assert SIGN_IN_REFUSED == raised.value.detail
    assert {} == factory.database.admin.sessions


def test_an_unknown_email_still_spends_a_verification() -> None:
    """
    No account: the hasher's `waste` runs, so the answer takes as long as a real check.
    """
    factory = FakeUnitOfWorkFactory()
    hasher = FakeHasher()
    with pytest.raises(Unauthenticated):
        sign_in(
            uow_factory=factory,
            hasher=hasher,
            policy=POLICY,
            now=NOW,
            email="nobody@example.com",
            password=PASSWORD,
        )
    assert [PASSWORD] == hasher.wasted


def test_an_old_hash_is_replaced_at_sign_in() -> None:
    """
    A hash the hasher says is outdated is rehashed with the password just checked.
    """
    factory = FakeUnitOfWorkFactory()
    operator = _operator(factory)
    factory.database.admin.operators[operator.id] = Operator(
        id=operator.id,
        email=operator.email,
        password_hash="v1$" + PASSWORD,
        all_stores=True,
        store_ids=frozenset(),
        created_at=NOW,
    )
    sign_in(
        uow_factory=factory,
        hasher=FakeHasher(),
        policy=POLICY,
        now=NOW,
        email="ops@example.com",
        password=PASSWORD,
    )
    assert "v2$" + PASSWORD == factory.database.admin.operators[operator.id].password_hash


def _signed_in(factory: FakeUnitOfWorkFactory) -> str:
    _operator(factory)
    return sign_in(
        uow_factory=factory,
        hasher=FakeHasher(),
        policy=POLICY,
        now=NOW,
        email="ops@example.com",
        password=PASSWORD,
    ).token


def test_a_live_session_is_found_and_marked_seen_at_most_once_a_minute() -> None:
    """
    Requests within a minute write nothing; a later one moves `last_seen_at`.
    """
    factory = FakeUnitOfWorkFactory()
    token = _signed_in(factory)
    commits = factory.database.commits
    found = current_session(
        uow_factory=factory, policy=POLICY, now=NOW + timedelta(seconds=30), token=token
    )
    assert found is not None
    assert commits == factory.database.commits
    later = NOW + timedelta(minutes=5)
    found = current_session(uow_factory=factory, policy=POLICY, now=later, token=token)
    assert found is not None
    assert later == factory.database.admin.sessions[digest_key(token)].last_seen_at


def test_an_idle_session_is_deleted_when_found() -> None:
    """
    Past the idle time the session is gone, on the server too.
    """
    factory = FakeUnitOfWorkFactory()
    token = _signed_in(factory)
    later = NOW + timedelta(minutes=31)
    assert current_session(uow_factory=factory, policy=POLICY, now=later, token=token) is None
    assert {} == factory.database.admin.sessions


def test_signing_out_deletes_the_session_and_a_stranger_token_finds_nothing() -> None:
    """
    After `sign_out` the token opens nothing; an unknown token never did.
    """
    factory = FakeUnitOfWorkFactory()
    token = _signed_in(factory)
    sign_out(uow=factory(), token=token)
    assert current_session(uow_factory=factory, policy=POLICY, now=NOW, token=token) is None
    assert current_session(uow_factory=factory, policy=POLICY, now=NOW, token="x") is None


# --- scoped reads -----------------------------------------------------------------------


def _cart(
    factory: FakeUnitOfWorkFactory, store_id: str, key: str, minutes: int, **cart: object
) -> CartRecord:
    record = CartRecord(
        id=f"ca_{key}",
        store_id=store_id,
        cart=Cart(
            key=key,
            currency="USD",
            lines=(LineItem(product_id="p-1", unit_price=Decimal(10), quantity=1),),
            stage=Stage.CART,
            **cart,
        ),
        created_at=NOW + timedelta(minutes=minutes),
    )
    factory.database.carts[record.id] = record
    return record


def test_a_store_the_operator_may_not_see_is_not_found_like_a_missing_one() -> None:
    """
    `access_store`, and every read through it, answers NotFound for another store.
    """
    factory = FakeUnitOfWorkFactory()
    _store(factory, "st_mine", "Mine")
    _store(factory, "st_theirs", "Theirs")
    operator = _operator(factory, "st_mine")
    _cart(factory, "st_theirs", "secret", 0)
    with factory() as uow:
        assert "st_mine" == access_store(uow, operator, "st_mine").id
        for store_id in ("st_theirs", "st_missing"):
            with pytest.raises(NotFound):
                access_store(uow, operator, store_id)
    assert ["Mine"] == [s.name for s in visible_stores(uow=factory(), operator=operator)]
    with pytest.raises(NotFound):
        list_carts(uow=factory(), operator=operator, store_id="st_theirs", filters=CartFilters())
    with pytest.raises(NotFound):
        cart_timeline(uow=factory(), operator=operator, store_id="st_mine", cart_id="ca_secret")


def test_the_list_filters_and_pages_newest_first() -> None:
    """
    Filters narrow; pages continue from their cursor.
    """
    factory = FakeUnitOfWorkFactory()
    _store(factory, "st_1")
    operator = _operator(factory)
    for n in range(5):
        _cart(factory, "st_1", f"c{n}", n)
    _cart(factory, "st_1", "gone", 9, status=CartStatus.ABANDONED, abandoned_at=NOW)
    first = list_carts(
        uow=factory(),
        operator=operator,
        store_id="st_1",
        filters=CartFilters(status="active"),
        limit=3,
    )
    second = list_carts(
        uow=factory(),
        operator=operator,
        store_id="st_1",
        filters=CartFilters(status="active"),
        limit=3,
        cursor=first.next_cursor,
    )
    assert ["c4", "c3", "c2"] == [r.cart.key for r in first.records]
    assert ["c1", "c0"] == [r.cart.key for r in second.records]
    assert second.next_cursor is None


def test_a_timeline_merges_the_carts_moments_in_order() -> None:
    """
    Creation, raw events and abandonment, by time.
    """
    factory = FakeUnitOfWorkFactory()
    _store(factory, "st_1")
    operator = _operator(factory)
    record = _cart(
        factory,
        "st_1",
        "c1",
        0,
        status=CartStatus.ABANDONED,
        abandoned_at=NOW + timedelta(minutes=31),
    )
    factory.database.admin.cart_events[("st_1", "c1")] = [
        CartEvent(
            id=1,
            source="segment",
            kind="track",
            name="Product Added",
            occurred_at=NOW + timedelta(minutes=1),
            received_at=NOW + timedelta(minutes=1),
            outcome="applied",
        )
    ]
    timeline = cart_timeline(uow=factory(), operator=operator, store_id="st_1", cart_id=record.id)
    assert ["cart created", "Product Added", "cart abandoned"] == [
        e.label for e in timeline.entries
    ]


# --- cookies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "production", "secure"),
    [("http", False, False), ("https", False, True), ("http", True, True)],
)
def test_cookies_are_secure_over_https_and_always_in_production(
    scheme: str, production: bool, secure: bool
) -> None:
    """
    Plain http in development and tests keeps working; production always sets `Secure`.
    """
    state = AdminState(
        policy=POLICY,
        always_secure=production,
        base_url="http://127.0.0.1",
        hash_profile=PasswordHashProfile.CHEAPEST.value,
    )
    request = Request(
        {
            "type": "http",
            "scheme": scheme,
            "method": "GET",
            "path": "/admin/login",
            "headers": [(b"host", b"dash.example")],
            "server": ("dash.example", 443 if scheme == "https" else 80),
            "query_string": b"",
        }
    )
    assert secure == state.secure(request)
