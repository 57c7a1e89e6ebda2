"""
A recovery email end to end, as a merchant runs it: the real API and worker on the simulated
clock, the `smtp` backend against a real SMTP server (aiosmtpd, STARTTLS and AUTH), the store's
own DKIM key. The received mail is read back as a mailbox would: both parts, the headers, a
signature that verifies, the items and total; its links work.
"""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import dkim
import pytest
from fastapi.testclient import TestClient
from test_recovery_engine import leave_cart, run, shop
from test_smtp_channel import Mailbox, Server, certificate, mailbox, server

from cartback.bootstrap import Container, bootstrap
from cartback.domain.consent import Channel
from cartback.engine.clock import SimulatedClock
from cartback.services.email_config import configure_email
from cartback.services.message_settings import update_message_settings
from cartback.services.stores import CreatedStore
from cartback.settings import Settings
from email_support import DKIM_SELECTOR, dkim_dns, dkim_test_key
from helpers import auth

__all__ = ["certificate", "mailbox", "server", "shop"]

BASE_URL = "https://cartback.example.com"
POSTAL = "Test Shop GmbH, Hauptstraße 1, 10115 Berlin"


@pytest.fixture
def container(
    database_url: str,
    clock: SimulatedClock,
    settings_factory: Callable[..., Settings],
    server: Server,
) -> Iterator[Container]:
    """
    The service sending email through the test's SMTP server.
    """
    settings = settings_factory(
        database_url, email_backend="smtp", smtp_url=server.url(), base_url=BASE_URL
    )
    built = bootstrap(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def emailing_store(
    shop: Callable[..., CreatedStore], container: Container, clock: SimulatedClock
) -> CreatedStore:
    """
    A US store with its sender, DKIM key and postal address set, as `cartback email configure`
    and `cartback messages configure` set them.
    """
    store = shop()
    configure_email(
        uow=container.uow_factory(),
        clock=clock,
        box=container.box,
        store_id=store.store.id,
        sender="Test Shop <orders@shop.example.com>",
        reply_to="help@shop.example.com",
        dkim_selector=DKIM_SELECTOR,
        dkim_key_pem=dkim_test_key().pem,
    )
    update_message_settings(
        uow=container.uow_factory(),
        clock=clock,
        store_id=store.store.id,
        changes={"postal_address": POSTAL},
    )
    return store


@pytest.fixture
def received(
    client: TestClient,
    container: Container,
    clock: SimulatedClock,
    emailing_store: CreatedStore,
    mailbox: Mailbox,
) -> EmailMessage:
    """
    The first recovery email of a shopper who left a 25 USD mug, as the SMTP server got it.
    """
    worker = container.new_worker(name="journey")
    leave_cart(client, emailing_store, clock)
    clock.advance(timedelta(minutes=31))
    run(worker)
    clock.advance(timedelta(hours=1))
    run(worker)
    assert 1 == len(mailbox.messages)
    parsed = email.message_from_bytes(
        mailbox.messages[0][0].original_content or b"", policy=policy.default
    )
    assert isinstance(parsed, EmailMessage)
    return parsed


def _parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def test_the_email_has_both_parts_with_the_items_total_and_postal_address(
    received: EmailMessage,
) -> None:
    """
    multipart/alternative: the plain and HTML parts both show the mug, its price and the total,
    and the store's postal address (CAN-SPAM).
    """
    # when
    text, html = _parts(received)

    # then
    assert "multipart/alternative" == received.get_content_type()
    for part in (text, html):
        assert "Mug" in part
        assert "$25.00" in part
        assert "Hauptstraße 1" in part


def test_the_headers_name_the_store_and_offer_one_click_unsubscribe(
    received: EmailMessage,
) -> None:
    """
    From and Reply-To are the store's, the Message-ID is on its domain, and List-Unsubscribe
    has an https URI (first) and a mailto, with the RFC 8058 one-click header.
    """
    # then
    assert "Test Shop <orders@shop.example.com>" == str(received["From"])
    assert "help@shop.example.com" == str(received["Reply-To"])
    assert re.fullmatch(r"<tc_\w+@shop\.example\.com>", str(received["Message-ID"]))
    unsubscribe = str(received["List-Unsubscribe"])
    assert re.match(
        rf"<{re.escape(BASE_URL)}/u/[^>]+>, <mailto:help@shop\.example\.com\?", unsubscribe
    )
    assert "List-Unsubscribe=One-Click" == str(received["List-Unsubscribe-Post"])


def test_the_dkim_signature_verifies_and_covers_the_unsubscribe_headers(
    received: EmailMessage, mailbox: Mailbox
) -> None:
    """
    The store's key signed the bytes the server got (d= its domain, s= its selector),
    List-Unsubscribe included.
    """
    # given
    raw = mailbox.messages[0][0].original_content or b""
    signature = str(received["DKIM-Signature"])

    # then
    assert dkim.verify(raw, dnsfunc=dkim_dns)
    assert "d=shop.example.com" in signature
    assert "list-unsubscribe-post" in signature.lower()


def test_the_emails_links_restore_the_cart_and_unsubscribe_in_one_click(
    received: EmailMessage,
    client: TestClient,
    container: Container,
    emailing_store: CreatedStore,
) -> None:
    """
    The restore link (with the UTM parameters) leads to the shop; the https List-Unsubscribe
    URI takes a one-click POST and the address is suppressed at once.
    """
    # given
    text, _ = _parts(received)
    restore = re.search(rf"{re.escape(BASE_URL)}(/r/[^\s?]+)\?(\S+)", text)
    unsubscribe = re.search(
        rf"<{re.escape(BASE_URL)}(/u/[^>]+)>", str(received["List-Unsubscribe"])
    )
    assert restore is not None
    assert unsubscribe is not None
    assert "utm_source=cartback" in restore.group(2)

    # when
    followed = client.get(restore.group(1), follow_redirects=False)
    one_click = client.post(
        unsubscribe.group(1),
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    # then
    assert 303 == followed.status_code
    assert followed.headers["location"].startswith("https://shop.example.com")
    assert 200 == one_click.status_code
    with container.uow_factory(read_only=True) as uow:
        assert uow.suppressions.is_suppressed(
            emailing_store.store.id, Channel.EMAIL, "ada@example.com"
        )


def test_the_touch_records_the_message_id_as_the_provider_id(
    received: EmailMessage, client: TestClient, emailing_store: CreatedStore
) -> None:
    """
    The touch is `sent`, and SMTP's only id for it is the Message-ID it went with.
    """
    # when
    body = client.get("/v1/carts/c-1", headers=auth(emailing_store.secret_key)).json()

    # then
    first = body["touches"][0]
    assert "sent" == first["status"]
    assert str(received["Message-ID"]).strip("<>").split("@")[0] == first["id"]
