"""
Audience exports (`GET /v1/audiences/{name}/export`, server key) on a real database: the exact
files for Meta, Google, the merchant's plain list and the anonymous visitors on a small fixed
data set written with SQL; every exclusion rule one by one; no personal data in the anonymous
file; another store's key, an unknown audience and a bad format answer problems; the members
are read in one query per audience.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert

from cartback.bootstrap import Container
from cartback.engine.clock import SimulatedClock
from cartback.kit.ids import new_id
from cartback.services.stores import CreatedStore
from cartback.store.tables import (
    audience_members,
    audience_visitors,
    audiences,
    carts,
    consent_ledger,
    contacts,
    enrollments,
    touches,
    visitors,
)
from helpers import assert_problem, auth

AUDIENCE = "viewed-cart"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Rows:
    """
    Writes the rows an audience export reads, directly with SQL.
    """

    def __init__(self, engine: Engine, now: datetime) -> None:
        self.engine = engine
        self.now = now

    def _insert(self, table: Any, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(insert(table).values(**values))

    def contact(
        self,
        store: CreatedStore,
        email: str | None = None,
        phone: str | None = None,
        *,
        entered: timedelta = timedelta(hours=1),
        offer_eligible: bool | None = None,
        ads_opt_out: bool = False,
        is_bot: bool = False,
    ) -> str:
        """
        A contact who entered `AUDIENCE` `entered` ago, for 7 days; its id.
        """
        contact_id = new_id("co")
        self._insert(
            contacts,
            id=contact_id,
            store_id=store.store.id,
            email=email if email is not None else f"{contact_id}@example.com",
            phone=phone,
            is_bot=is_bot,
            created_at=self.now - timedelta(days=1),
            updated_at=self.now - timedelta(days=1),
            ads_opt_out_at=self.now - timedelta(days=1) if ads_opt_out else None,
        )
        self.member(store, contact_id, entered=entered, offer_eligible=offer_eligible)
        return contact_id

    def member(
        self,
        store: CreatedStore,
        contact_id: str,
        *,
        audience: str = AUDIENCE,
        entered: timedelta = timedelta(hours=1),
        offer_eligible: bool | None = None,
        **values: Any,
    ) -> None:
        entered_at = self.now - entered
        row = {
            "store_id": store.store.id,
            "audience": audience,
            "contact_id": contact_id,
            "offer_eligible": offer_eligible,
            "entered_at": entered_at,
            "expires_at": entered_at + timedelta(days=7),
            **values,
        }
        self._insert(audience_members, **row)

    def visitor(self, store: CreatedStore, anonymous_id: str, **flags: Any) -> str:
        """
        An anonymous visitor who entered `AUDIENCE` two hours ago; its id.
        """
        visitor_id = new_id("vi")
        self._insert(
            visitors,
            id=visitor_id,
            store_id=store.store.id,
            anonymous_id=anonymous_id,
            is_bot=flags.get("is_bot", False),
            first_seen_at=self.now - timedelta(days=1),
            last_seen_at=self.now - timedelta(hours=2),
            ads_opt_out_at=flags.get("ads_opt_out_at"),
            contact_id=flags.get("contact_id"),
        )
        self._insert(
            audience_visitors,
            store_id=store.store.id,
            audience=AUDIENCE,
            visitor_id=visitor_id,
            entered_at=self.now - timedelta(hours=2),
            expires_at=self.now + timedelta(days=5),
        )
        return visitor_id

    def enrollment(
        self, store: CreatedStore, contact_id: str, *, group: str, handed: bool = False
    ) -> None:
        """
        An active enrollment of the contact with one email touch: sent, or skipped
        `handed_to_ads`.
        """
        cart_id, enrollment_id = new_id("ca"), new_id("en")
        started = self.now - timedelta(days=1)
        self._insert(
            carts,
            id=cart_id,
            store_id=store.store.id,
            cart_key=cart_id,
            contact_id=contact_id,
            status="abandoned",
            stage="cart",
            currency="USD",
            total=30,
            item_count=1,
            is_bot=False,
            signals={},
            created_at=started,
            updated_at=started,
        )
        self._insert(
            enrollments,
            id=enrollment_id,
            store_id=store.store.id,
            contact_id=contact_id,
            cart_id=cart_id,
            flow="cart-recovery",
            flow_version=0,
            group=group,
            status="active",
            stage="cart",
            triggered_at=started,
            started_at=started,
        )
        self._insert(
            touches,
            id=new_id("tc"),
            store_id=store.store.id,
            enrollment_id=enrollment_id,
            cart_id=cart_id,
            step=2,
            channel="email",
            template="reminder",
            status="skipped" if handed else "sent",
            reason="handed_to_ads" if handed else None,
            due_at=started,
            attempts=0,
            created_at=started,
            updated_at=started,
        )

    def consent(self, store: CreatedStore, contact_id: str, *, granted: bool) -> None:
        """
        An email marketing grant or withdrawal in the ledger.
        """
        at = self.now - timedelta(hours=3)
        self._insert(
            consent_ledger,
            store_id=store.store.id,
            contact_id=contact_id,
            channel="email",
            purpose="marketing",
            granted=granted,
            text="Email me offers",
            source="checkout",
            occurred_at=at,
            recorded_at=at,
            confirmed_at=at,
        )


@pytest.fixture
def rows(container: Container, clock: SimulatedClock) -> Rows:
    """
    The SQL row writer, at the clock's time.
    """
    return Rows(container.engine, clock.now())


@pytest.fixture
def us_store(store_factory: Callable[..., CreatedStore]) -> CreatedStore:
    """
    A US store: email marketing on the opt-out model.
    """
    return store_factory(country="US", timezone="America/New_York")


def _export(client: TestClient, store: CreatedStore, fmt: str, name: str = AUDIENCE) -> Any:
    return client.get(f"/v1/audiences/{name}/export?format={fmt}", headers=auth(store.secret_key))


def _text(client: TestClient, store: CreatedStore, fmt: str) -> str:
    response = _export(client, store, fmt)
    assert 200 == response.status_code, response.text
    return str(response.text)


def _plain_emails(client: TestClient, store: CreatedStore) -> set[str]:
    lines = _text(client, store, "csv").splitlines()[1:]
    return {line.split(",")[0] for line in lines}


# --- exact files ------------------------------------------------------------------------------


@pytest.fixture
def fixed_set(rows: Rows, us_store: CreatedStore) -> CreatedStore:
    """
    Two reachable contacts (one with a phone and an offer, one email-only), one opted out of
    ads, and two anonymous visitors (one a bot).
    """
    rows.contact(
        us_store,
        "ann@example.com",
        "+14155550100",
        entered=timedelta(hours=2),
        offer_eligible=True,
    )
    rows.contact(us_store, "bob@example.com", entered=timedelta(hours=1))
    rows.contact(us_store, "cat@example.com", ads_opt_out=True)
    rows.visitor(us_store, "anon-1")
    rows.visitor(us_store, "anon-bot", is_bot=True)
    return us_store


def test_meta_file_has_metas_columns_and_hashes(
    client: TestClient, fixed_set: CreatedStore
) -> None:
    """
    `email,phone` with SHA-256 of Meta's normal forms (phone digits without `+`), an empty
    cell for a missing phone; served as a CSV attachment.
    """
    # when
    response = _export(client, fixed_set, "meta")
    # then
    assert 200 == response.status_code, response.text
    assert "text/csv; charset=utf-8" == response.headers["content-type"]
    assert (
        'attachment; filename="viewed-cart-meta-20261127.csv"'
        == (response.headers["content-disposition"])
    )
    assert (
        "email,phone\r\n"
        f"{_sha('ann@example.com')},{_sha('14155550100')}\r\n"
        f"{_sha('bob@example.com')},\r\n"
    ) == response.text


def test_google_file_has_customer_match_columns_and_e164_phone_hashes(
    client: TestClient, fixed_set: CreatedStore
) -> None:
    """
    `Email,Phone` with SHA-256 of the lower-cased email and of the E.164 number with `+`.
    """
    # when
    text = _text(client, fixed_set, "google")
    # then
    assert (
        "Email,Phone\r\n"
        f"{_sha('ann@example.com')},{_sha('+14155550100')}\r\n"
        f"{_sha('bob@example.com')},\r\n"
    ) == text


def test_plain_csv_is_the_merchants_own_list(client: TestClient, fixed_set: CreatedStore) -> None:
    """
    `email,phone,entered_at,expires_at,offer_eligible` in plain text, UTC times.
    """
    # when
    text = _text(client, fixed_set, "csv")
    # then
    assert (
        "email,phone,entered_at,expires_at,offer_eligible\r\n"
        "ann@example.com,+14155550100,2026-11-27T08:00:00Z,2026-12-04T08:00:00Z,true\r\n"
        "bob@example.com,,2026-11-27T09:00:00Z,2026-12-04T09:00:00Z,\r\n"
    ) == text


def test_anonymous_file_has_hashed_anonymous_ids_and_no_personal_data(
    client: TestClient, fixed_set: CreatedStore, rows: Rows
) -> None:
    """
    `external_id,entered_at,expires_at` only: the SHA-256 of the anonymous id, never an email,
    phone, contact id or the anonymous id itself, even for a visitor linked to a contact.
    """
    # given: a visitor who later identified (linked to a contact with an address)
    linked = rows.contact(fixed_set, "dan@example.com", "+14155550199")
    rows.visitor(fixed_set, "anon-dan", contact_id=linked)
    # when
    text = _text(client, fixed_set, "anonymous")
    # then
    assert (
        "external_id,entered_at,expires_at\r\n"
        f"{_sha('anon-1')},2026-11-27T08:00:00Z,2026-12-02T10:00:00Z\r\n"
        f"{_sha('anon-dan')},2026-11-27T08:00:00Z,2026-12-02T10:00:00Z\r\n"
    ) == text
    for personal in ("@", "+1", "anon-", linked, "co_"):
        assert personal not in text


# --- exclusions, one by one --------------------------------------------------------------------


def _opted_out(rows: Rows, store: CreatedStore) -> None:
    rows.contact(store, "subject@example.com", ads_opt_out=True)


def _bot(rows: Rows, store: CreatedStore) -> None:
    rows.contact(store, "subject@example.com", is_bot=True)


def _withdrew(rows: Rows, store: CreatedStore) -> None:
    rows.consent(store, rows.contact(store, "subject@example.com"), granted=False)


def _in_active_email_flow(rows: Rows, store: CreatedStore) -> None:
    rows.enrollment(store, rows.contact(store, "subject@example.com"), group="treated")


def _holdout(rows: Rows, store: CreatedStore) -> None:
    rows.enrollment(store, rows.contact(store, "subject@example.com"), group="control")


def _left(rows: Rows, store: CreatedStore) -> None:
    contact_id = rows.contact(store, "subject@example.com")
    with rows.engine.begin() as connection:
        connection.execute(
            audience_members.update()
            .where(audience_members.c.contact_id == contact_id)
            .values(left_at=rows.now - timedelta(minutes=5), left_reason="ordered")
        )


def _expired(rows: Rows, store: CreatedStore) -> None:
    rows.contact(store, "subject@example.com", entered=timedelta(days=7))


@pytest.mark.parametrize(
    "exclude",
    [_opted_out, _bot, _withdrew, _in_active_email_flow, _holdout, _left, _expired],
    ids=lambda f: f.__name__.strip("_"),
)
def test_each_exclusion_rule_keeps_the_contact_out(
    client: TestClient,
    rows: Rows,
    us_store: CreatedStore,
    exclude: Callable[[Rows, CreatedStore], None],
) -> None:
    """
    Beside a reachable member, the subject is left out of every contact export.
    """
    # given
    rows.contact(us_store, "kept@example.com")
    exclude(rows, us_store)
    # when
    emails = _plain_emails(client, us_store)
    meta = _text(client, us_store, "meta")
    # then
    assert {"kept@example.com"} == emails
    assert _sha("subject@example.com") not in meta


def test_a_contact_the_flow_handed_to_ads_is_included(
    client: TestClient, rows: Rows, us_store: CreatedStore
) -> None:
    """
    An active enrollment with a touch skipped `handed_to_ads` no longer holds the contact.
    """
    # given
    handed = rows.contact(us_store, "handed@example.com")
    rows.enrollment(us_store, handed, group="treated", handed=True)
    # when / then
    assert {"handed@example.com"} == _plain_emails(client, us_store)


def test_an_eu_store_exports_only_contacts_with_a_marketing_grant(
    client: TestClient, rows: Rows, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    No consent in an EU store means no ads: only the member who granted email marketing is
    exported.
    """
    # given
    eu = store_factory(country="DE")
    rows.consent(eu, rows.contact(eu, "granted@example.com"), granted=True)
    rows.contact(eu, "silent@example.com")
    # when / then
    assert {"granted@example.com"} == _plain_emails(client, eu)


# --- problems ---------------------------------------------------------------------------------


def test_another_stores_audience_is_not_found(
    client: TestClient,
    container: Container,
    rows: Rows,
    us_store: CreatedStore,
    store_factory: Callable[..., CreatedStore],
) -> None:
    """
    A store's own audience exports with its key; another store's key gets 404 and no data.
    """
    # given: an audience only the US store defined, with a member
    with container.engine.begin() as connection:
        connection.execute(
            insert(audiences).values(
                store_id=us_store.store.id,
                name="vip",
                version=1,
                source="audiences:\n  - name: vip\n    stages: [cart]\n    window: 7d\n",
                definition={},
                enabled=True,
                created_at=rows.now,
                updated_at=rows.now,
            )
        )
    rows.member(us_store, rows.contact(us_store, "vip@example.com"), audience="vip")
    other = store_factory(name="Other Shop")
    # when
    own = client.get("/v1/audiences/vip/export?format=csv", headers=auth(us_store.secret_key))
    foreign = client.get("/v1/audiences/vip/export?format=csv", headers=auth(other.secret_key))
    # then
    assert 200 == own.status_code, own.text
    assert "vip@example.com" in own.text
    body = assert_problem(foreign, 404)
    assert "vip@example.com" not in foreign.text
    assert "not-found" == body["code"]


def test_an_unknown_audience_is_not_found(client: TestClient, us_store: CreatedStore) -> None:
    """
    A name the store's definitions do not have answers a 404 problem.
    """
    # when
    response = _export(client, us_store, "csv", name="no-such-audience")
    # then
    assert_problem(response, 404)


@pytest.mark.parametrize("query", ["?format=xml", "?format=", ""])
def test_a_bad_or_missing_format_is_a_400_problem(
    client: TestClient, us_store: CreatedStore, query: str
) -> None:
    """
    `format` must be one of `meta`, `google`, `csv`, `anonymous`.
    """
    # when
    response = client.get(
        f"/v1/audiences/{AUDIENCE}/export{query}", headers=auth(us_store.secret_key)
    )
    # then
    body = assert_problem(response, 400)
    assert ["format"] == [e["field"] for e in body["errors"]]


def test_a_public_key_cannot_export(client: TestClient, us_store: CreatedStore) -> None:
    """
    Exports hold contact details: the storefront's public key is refused.
    """
    # when
    response = client.get(
        f"/v1/audiences/{AUDIENCE}/export?format=csv", headers=auth(us_store.public_key)
    )
    # then
    assert_problem(response, 403)


# --- one query per audience -------------------------------------------------------------------


@pytest.fixture
def statements(container: Container) -> Iterator[list[str]]:
    """
    The SQL statements executed while the test runs.
    """
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(container.engine, "before_cursor_execute", record)
    yield seen
    event.remove(container.engine, "before_cursor_execute", record)


def test_members_are_read_in_one_query_whatever_their_number(
    container: Container, rows: Rows, us_store: CreatedStore, statements: list[str]
) -> None:
    """
    Ten members, some in flows: the repository reads them all, with their enrollment facts,
    in a single statement.
    """
    # given
    for n in range(10):
        contact_id = rows.contact(us_store, f"m{n}@example.com")
        if n % 3 == 0:
            rows.enrollment(us_store, contact_id, group="treated", handed=n % 2 == 0)
    # when
    with container.uow_factory(read_only=True) as uow:
        statements.clear()
        found = uow.audience_reach.current_members(us_store.store.id, AUDIENCE, now=rows.now)
        count = len(statements)
    # then
    assert (10, 1) == (len(found), count)
    assert 2 == sum(1 for f in found if f.handed_to_ads)
