"""
The unsubscribe link (`GET`/`POST /u/{token}`, RFC 8058): the GET page changes nothing, the
one-click POST withdraws at once and suppresses, the preference form records a choice (and
grants only from the page itself), and a bad link gets a friendly page, never a trace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cartback.bootstrap import Container
from cartback.domain.consent import Basis, Channel, Purpose
from cartback.domain.ports import Contact
from cartback.engine.clock import SimulatedClock
from cartback.services.permission import may_message
from cartback.services.stores import CreatedStore
from cartback.services.unsubscribe import UnsubscribeLinks
from cartback.store.tables import consent_ledger
from helpers import assert_problem, auth, identify

EMAIL = "jane.doe@example.com"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def _contact(
    client: TestClient, container: Container, store: CreatedStore, email: str = EMAIL
) -> Contact:
    sent = client.post(
        "/v1/batch",
        json={"batch": [identify(anonymous_id=f"anon-{email}", email=email)]},
        headers=auth(store.secret_key),
    )
    assert 200 == sent.status_code, sent.text
    with container.uow_factory(read_only=True) as uow:
        _, ref, _ = uow.contacts.find(store.store.id, user_id=None, email=email, phone=None)
        assert ref is not None
        contact = uow.contacts.get(store.store.id, ref.id)
    assert contact is not None
    return contact


def _url(client: TestClient, store: CreatedStore, contact: Contact) -> str:
    response = client.get(
        f"/v1/contacts/{contact.id}/unsubscribe-url", headers=auth(store.secret_key)
    )
    assert 200 == response.status_code, response.text
    body = response.json()
    assert body["url"].endswith("/u/" + body["token"])
    return "/u/" + body["token"]


@pytest.fixture
def link(client: TestClient, container: Container, store: CreatedStore) -> tuple[str, Contact]:
    """
    A contact with an email address, and the path of their unsubscribe link.
    """
    contact = _contact(client, container, store)
    return _url(client, store, contact), contact


def _state(container: Container, contact: Contact) -> tuple[dict[tuple[str, str], bool], bool]:
    """
    The contact's email ledger state and whether the address is suppressed.
    """
    with container.uow_factory(read_only=True) as uow:
        ledger = {
            (c.value, p.value): fact.granted
            for (c, p), fact in uow.consents.current(contact.id).items()
        }
        suppressed = uow.suppressions.is_suppressed(contact.store_id, Channel.EMAIL, EMAIL)
    return ledger, suppressed


def _ledger_rows(container: Container) -> list[tuple[str, str, str, bool]]:
    with container.engine.connect() as connection:
        rows = connection.execute(
            select(
                consent_ledger.c.purpose,
                consent_ledger.c.text,
                consent_ledger.c.source,
                consent_ledger.c.granted,
            ).order_by(consent_ledger.c.purpose)
        ).all()
    return [(r.purpose, r.text, r.source, bool(r.granted)) for r in rows]


def _permission(container: Container, contact: Contact, purpose: Purpose) -> tuple[bool, Basis]:
    with container.uow_factory(read_only=True) as uow:
        store = uow.stores.get(contact.store_id)
        assert store is not None
        answer = may_message(uow, store, contact, Channel.EMAIL, purpose)
    return answer.allowed, answer.basis


def _form_token(page: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)


def _checked(page: str) -> list[str]:
    return re.findall(r'value="(\w+)" checked', page)


NOTHING_YET: tuple[dict[tuple[str, str], bool], bool] = ({}, False)
WITHDRAWN = ({("email", "recovery"): False, ("email", "marketing"): False}, True)


def test_the_page_shows_the_button_and_the_form_and_changes_nothing(
    client: TestClient, container: Container, link: tuple[str, Contact]
) -> None:
    """
    GET (what mail scanners do): a page with the one-click button and the three choices, the
    current one ticked, the address masked, strict headers; the ledger and the list unchanged.
    """
    # given
    path, contact = link
    # when
    response = client.get(path)
    # then
    page = response.text
    assert (200, "text/html") == (response.status_code, response.headers["content-type"][:9])
    assert "Unsubscribe from all emails from Test Shop" in page
    assert ["recovery", "everything", "nothing"] == re.findall(r'name="choice" value="(\w+)"', page)
    # A custom store has no region: the strict table, so nothing is allowed yet.
    assert ["nothing"] == _checked(page)
    assert ("j•••@example.com" in page, EMAIL in page) == (True, False)
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert ("no-referrer", "no-store") == (
        response.headers["referrer-policy"],
        response.headers["cache-control"],
    )
    assert NOTHING_YET == _state(container, contact)


def test_the_page_preselects_the_current_state(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    A US store emails on the opt-out model: "everything" is what the person gets now.
    """
    # given
    store = store_factory(country="US")
    contact = _contact(client, container, store)
    # when
    page = client.get(_url(client, store, contact)).text
    # then
    assert ["everything"] == _checked(page)


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        pytest.param(b"List-Unsubscribe=One-Click", ONE_CLICK, id="rfc8058"),
        pytest.param(b"", {}, id="empty"),
        pytest.param(b"List-Unsubscribe=One-Click", {"Content-Type": "text/plain"}, id="text"),
    ],
)
def test_one_click_withdraws_and_suppresses_at_once(
    client: TestClient,
    container: Container,
    store: CreatedStore,
    link: tuple[str, Contact],
    content: bytes,
    headers: dict[str, str],
) -> None:
    """
    The mailbox provider's POST (or an empty one): recovery and marketing withdrawn in the
    ledger with the one-click words, the address suppressed (`unsubscribed`), a short page.
    """
    # given
    path, contact = link
    # when
    response = client.post(path, content=content, headers=headers)
    # then
    assert (200, "You&#39;re unsubscribed") == (
        response.status_code,
        re.search(r"<h1>(.*)</h1>", response.text).group(1),  # type: ignore[union-attr]
    )
    assert WITHDRAWN == _state(container, contact)
    assert [
        ("marketing", "List-Unsubscribe=One-Click", "unsubscribe_link", False),
        ("recovery", "List-Unsubscribe=One-Click", "unsubscribe_link", False),
    ] == _ledger_rows(container)
    listed = client.get("/v1/suppressions?channel=email", headers=auth(store.secret_key))
    assert [(EMAIL, "unsubscribed", "unsubscribe_link")] == [
        (r["address"], r["reason"], r["source"]) for r in listed.json()["data"]
    ]


def test_one_click_as_multipart_works_too(
    client: TestClient, container: Container, link: tuple[str, Contact]
) -> None:
    """
    RFC 8058 allows `multipart/form-data` for the same body.
    """
    # given
    path, contact = link
    # when
    response = client.post(path, files={"List-Unsubscribe": (None, "One-Click")})
    # then
    assert (200, WITHDRAWN) == (response.status_code, _state(container, contact))


def test_after_unsubscribing_no_flow_may_email(
    client: TestClient, container: Container, link: tuple[str, Contact], store: CreatedStore
) -> None:
    """
    `may_message` says no: suppressed; and once the merchant lifts the suppression, still no,
    because the ledger says withdrawn.
    """
    # given
    path, contact = link
    client.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    # when
    suppressed = _permission(container, contact, Purpose.RECOVERY)
    client.delete(f"/v1/suppressions/email/{EMAIL}", headers=auth(store.secret_key))
    withdrawn = _permission(container, contact, Purpose.RECOVERY)
    # then
    assert ((False, Basis.SUPPRESSED), (False, Basis.WITHDRAWN)) == (suppressed, withdrawn)


def test_the_page_button_records_the_words_shown_in_the_page_language(
    client: TestClient, container: Container, link: tuple[str, Contact]
) -> None:
    """
    The button posts the page's language; the ledger keeps the German button label.
    """
    # given
    path, contact = link
    # when
    response = client.post(path, data={"lang": "de"})
    # then
    assert (200, "Sie sind abgemeldet") == (
        response.status_code,
        re.search(r"<h1>(.*)</h1>", response.text).group(1),  # type: ignore[union-attr]
    )
    assert {"Von allen E-Mails von Test Shop abmelden"} == {
        text for _, text, _, _ in _ledger_rows(container)
    }
    with container.engine.connect() as connection:
        versions = connection.execute(
            select(consent_ledger.c.text_version, consent_ledger.c.locale).distinct()
        ).all()
    assert [("unsubscribe-page/1", "de")] == [tuple(v) for v in versions]
    assert WITHDRAWN == _state(container, contact)


@pytest.mark.parametrize(
    ("choice", "expected", "words"),
    [
        (
            "recovery",
            ({("email", "recovery"): True, ("email", "marketing"): False}, False),
            "Only reminders about carts I leave behind",
        ),
        (
            "everything",
            ({("email", "recovery"): True, ("email", "marketing"): True}, False),
            "Everything: cart reminders, offers and news",
        ),
        ("nothing", WITHDRAWN, "Nothing: no emails at all"),
    ],
)
def test_a_preference_writes_its_grants_and_withdrawals(
    client: TestClient,
    container: Container,
    link: tuple[str, Contact],
    choice: str,
    expected: tuple[dict[tuple[str, str], bool], bool],
    words: str,
) -> None:
    """
    The form from the page: each choice's ledger entries, with the question and the answer
    shown as the words; "nothing" also suppresses.
    """
    # given
    path, contact = link
    token = _form_token(client.get(path).text)
    # when
    response = client.post(path, data={"choice": choice, "lang": "en", "form_token": token})
    # then
    assert (200, expected) == (response.status_code, _state(container, contact))
    assert {f"What would you like to receive from Test Shop? {words}"} == {
        text for _, text, _, _ in _ledger_rows(container)
    }


def test_choosing_recovery_after_unsubscribing_lifts_the_suppression(
    client: TestClient, container: Container, clock: SimulatedClock, link: tuple[str, Contact]
) -> None:
    """
    The person's own unsubscribe is undone by their own choice on the page.
    """
    # given
    path, contact = link
    client.post(path, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
    token = _form_token(client.get(path).text)
    clock.advance(timedelta(minutes=1))
    # when
    client.post(path, data={"choice": "recovery", "lang": "en", "form_token": token})
    # then
    assert ((True, Basis.CONSENT), (False, Basis.WITHDRAWN)) == (
        _permission(container, contact, Purpose.RECOVERY),
        _permission(container, contact, Purpose.MARKETING),
    )


def test_a_hard_bounce_is_not_lifted_by_the_page(
    client: TestClient, container: Container, link: tuple[str, Contact], store: CreatedStore
) -> None:
    """
    A suppression the merchant or the provider set stays: only the merchant lifts it.
    """
    # given
    path, contact = link
    client.post(
        "/v1/suppressions",
        json={"channel": "email", "address": EMAIL, "reason": "hard_bounce"},
        headers=auth(store.secret_key),
    )
    token = _form_token(client.get(path).text)
    # when
    client.post(path, data={"choice": "everything", "lang": "en", "form_token": token})
    # then
    assert (False, Basis.SUPPRESSED) == _permission(container, contact, Purpose.RECOVERY)


@pytest.mark.parametrize(
    ("fields", "headers", "status"),
    [
        pytest.param({"choice": "everything", "lang": "en"}, {}, 400, id="no-form-token"),
        pytest.param(
            {"choice": "everything", "lang": "en", "form_token": "forged.token"},
            {},
            400,
            id="forged",
        ),
        pytest.param(
            {"choice": "recovery", "lang": "en", "form_token": "PAGE"},
            {"Origin": "https://evil.example"},
            403,
            id="foreign-origin",
        ),
        pytest.param(
            {"choice": "everything", "lang": "en", "form_token": "PAGE"},
            {"Sec-Fetch-Site": "cross-site"},
            403,
            id="cross-site",
        ),
        pytest.param(
            {"choice": "everything", "lang": "en", "form_token": "OTHER"}, {}, 400, id="other-link"
        ),
    ],
)
def test_a_grant_that_does_not_come_from_the_page_changes_nothing(
    client: TestClient,
    container: Container,
    store: CreatedStore,
    link: tuple[str, Contact],
    fields: dict[str, str],
    headers: dict[str, str],
    status: int,
) -> None:
    """
    Without the page's form token (missing, forged, another link's) or from another site, a
    granting choice is refused with the form shown again; nothing is granted.
    """
    # given
    path, contact = link
    other = _url(client, store, _contact(client, container, store, "other@example.com"))
    tokens = {
        "PAGE": _form_token(client.get(path).text),
        "OTHER": _form_token(client.get(other).text),
    }
    if fields.get("form_token") in tokens:
        fields = {**fields, "form_token": tokens[fields["form_token"]]}
    # when
    response = client.post(path, data=fields, headers=headers)
    # then
    assert (status, "text/html") == (response.status_code, response.headers["content-type"][:9])
    assert 'name="form_token"' in response.text
    assert NOTHING_YET == _state(container, contact)


def test_a_cross_site_post_can_still_unsubscribe(
    client: TestClient, container: Container, link: tuple[str, Contact]
) -> None:
    """
    From another site, "nothing" is no more than the one-click POST allows: it applies.
    """
    # given
    path, contact = link
    # when
    response = client.post(
        path, data={"choice": "nothing", "lang": "en"}, headers={"Origin": "https://evil.example"}
    )
    # then
    assert (200, WITHDRAWN) == (response.status_code, _state(container, contact))


def test_an_unknown_choice_shows_the_form_again(
    client: TestClient, container: Container, link: tuple[str, Contact]
) -> None:
    """
    A choice that is not one of the three: 400, the form again, nothing changed.
    """
    # given
    path, contact = link
    # when
    response = client.post(path, data={"choice": "some", "lang": "fr"})
    # then
    assert (400, True) == (
        response.status_code,
        "Choisissez l&#39;une des options ci-dessous." in response.text,
    )
    assert NOTHING_YET == _state(container, contact)


def _tampered(path: str) -> list[str]:
    token = path.removeprefix("/u/")
    # The first character: all its bits count (the last one's may be base64 padding bits).
    flipped = ("A" if token[0] != "A" else "B") + token[1:]
    other_key = UnsubscribeLinks(secret_keys=["another-secret"], base_url="http://x").token(
        store_id="st_x", contact_id="ct_x"
    )
    return [f"/u/{flipped}", f"/u/{token[5:]}", "/u/garbage", f"/u/{other_key}", "/u/%3Cscript%3E"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_tampered_link_gets_a_friendly_page_and_changes_nothing(
    client: TestClient, container: Container, link: tuple[str, Contact], method: str
) -> None:
    """
    A changed, truncated, made-up or foreign-key token: a 400 page explaining what to do, with
    no link anywhere, no trace, the token not echoed; nothing changes.
    """
    # given
    path, contact = link
    # when
    responses = [
        client.request(method, bad, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
        for bad in _tampered(path)
    ]
    # then
    for response in responses:
        page = response.text
        assert (400, "text/html") == (response.status_code, response.headers["content-type"][:9])
        assert "This link doesn&#39;t work" in page
        assert ("<a " in page, "<script" in page.lower(), "Traceback" in page) == (
            False,
            False,
            False,
        )
    assert NOTHING_YET == _state(container, contact)


def test_a_link_to_someone_erased_is_a_404_page(client: TestClient, store: CreatedStore) -> None:
    """
    A valid signature for a contact that no longer exists: a friendly 404 page.
    """
    # given
    links: UnsubscribeLinks = client.app.state.unsubscribe_links  # type: ignore[attr-defined]
    token = links.token(store_id=store.store.id, contact_id="ct_gone")
    # when
    shown, posted = client.get(f"/u/{token}"), client.post(f"/u/{token}")
    # then
    assert [404, 404] == [shown.status_code, posted.status_code]
    assert "Nothing to unsubscribe" in shown.text


@pytest.mark.parametrize(
    ("accept", "lang", "title"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de", "E-Mail-Einstellungen"),
        ("fr-CA", "fr", "Préférences e-mail"),
        ("es;q=0.8, de;q=0.5", "es", "Preferencias de correo"),
        ("ja, en;q=0.1", "en", "Email preferences"),
        ("", "en", "Email preferences"),
        ("de;q=0, fr;q=0.3", "fr", "Préférences e-mail"),
    ],
)
def test_pages_speak_the_browsers_language(
    client: TestClient, link: tuple[str, Contact], accept: str, lang: str, title: str
) -> None:
    """
    `Accept-Language` picks English, German, French or Spanish, by quality.
    """
    # given
    path, _ = link
    # when
    response = client.get(path, headers={"Accept-Language": accept})
    # then
    assert (True, True) == (
        f"<h1>{title}</h1>" in response.text,
        f'<html lang="{lang}">' in response.text,
    )


def test_store_names_are_escaped(
    client: TestClient, container: Container, store_factory: Callable[..., CreatedStore]
) -> None:
    """
    A store name with markup shows as text.
    """
    # given
    store = store_factory(name='Bob\'s <script>alert("x")</script> & Co')
    contact = _contact(client, container, store)
    # when
    page = client.get(_url(client, store, contact)).text
    # then
    assert ("<script>" in page, "Bob&#39;s &lt;script&gt;" in page) == (False, True)


def test_a_body_too_large_is_refused(
    client: TestClient, container: Container, link: tuple[str, Contact]
) -> None:
    """
    Over 8 KB is not the form: 413, nothing changes.
    """
    # given
    path, contact = link
    # when
    response = client.post(path, content=b"x=" + b"a" * 9000, headers=ONE_CLICK)
    # then
    assert (413, NOTHING_YET) == (response.status_code, _state(container, contact))


def test_unsubscribe_urls_are_for_the_stores_own_contacts(
    client: TestClient,
    container: Container,
    store_factory: Callable[..., CreatedStore],
    link: tuple[str, Contact],
    store: CreatedStore,
) -> None:
    """
    Another store's contact, an unknown id: 404; no key 401; the public key 403.
    """
    # given
    _, contact = link
    other = store_factory()
    path = f"/v1/contacts/{contact.id}/unsubscribe-url"
    # when
    problems = [
        (client.get(path, headers=auth(other.secret_key)), 404),
        (client.get("/v1/contacts/ct_nope/unsubscribe-url", headers=auth(store.secret_key)), 404),
        (client.get(path), 401),
        (client.get(path, headers=auth(store.public_key)), 403),
    ]
    # then
    for response, status in problems:
        assert_problem(response, status)
