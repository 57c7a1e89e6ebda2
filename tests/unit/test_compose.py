"""
Composing a touch's message (`services/compose.Composer`): its links, its addressing, and for
email the envelope the channel writes and signs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from cartback.domain.consent import Channel
from cartback.domain.ports import Contact, TouchRecord
from cartback.domain.stores import Store
from cartback.domain.touches import TouchStatus
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.compose import Composed
from cartback.services.email_config import configure_email
from cartback.services.links import RestoreLinks
from email_support import DKIM_SELECTOR, dkim_test_key
from fakes import FakeDatabase, FakeUnitOfWorkFactory
from helpers import TEST_SECRET, enrolled_touch, make_composer

BASE = "https://cartback.example.com"


@pytest.fixture
def contact(database: FakeDatabase, shop: Store, clock: SimulatedClock) -> Contact:
    """
    A shopper with an email address and a phone number.
    """
    found = Contact(
        id="ct_1",
        store_id=shop.id,
        user_id=None,
        email="ada@example.com",
        phone="+12125550123",
        is_bot=False,
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    database.contacts[found.id] = found
    return found


@pytest.fixture
def compose(
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    shop: Store,
    contact: Contact,
    clock: SimulatedClock,
) -> Callable[..., tuple[Composed, TouchRecord]]:
    """
    A composer, and a function composing the first touch of a fresh enrollment on a channel.
    """
    composer = make_composer(BASE)

    def run(channel: Channel = Channel.EMAIL) -> tuple[Composed, TouchRecord]:
        now = clock.now()
        record, enrollment, touch = enrolled_touch(
            store_id=shop.id, contact_id=contact.id, key=f"cart-{channel}", now=now, due_at=now
        )
        touch = replace(touch, channel=channel)
        database.carts[record.id] = record
        database.enrollments[enrollment.id] = enrollment
        database.touches[touch.id] = touch
        store = database.stores[shop.id]
        with uow_factory() as uow:
            composed = composer.compose(
                uow=uow,
                store=store,
                cart=record.cart,
                contact=contact,
                touch=touch,
                flow="cart-recovery",
                stock=(),
                now=now,
            )
            uow.commit()
        return composed, touch

    return run


def test_an_email_carries_the_stores_envelope_and_a_restore_link_for_its_touch(
    compose: Callable[..., tuple[Composed, TouchRecord]], shop: Store
) -> None:
    """
    The Message-ID is the touch id on the store's domain, List-Unsubscribe has the https URI
    first, and the restore link in the text reads back as this touch.
    """
    # when
    composed, touch = compose()

    # then
    email = composed.message.email
    assert email is not None
    assert f"<{touch.id}@shop.example.com>" == email.message_id
    assert email.list_unsubscribe.startswith(f"<{BASE}/u/")
    assert "ada@example.com" == composed.message.to
    token = composed.message.text.split(f"{BASE}/r/", 1)[1].split("?", 1)[0].split()[0]
    target = RestoreLinks(secret_keys=[TEST_SECRET], base_url=BASE).read(token)
    assert (shop.id, touch.id) == (target.store_id, target.touch_id)


def test_only_a_numbers_first_text_says_how_to_stop(
    compose: Callable[..., tuple[Composed, TouchRecord]],
    database: FakeDatabase,
) -> None:
    """
    A text to a number that never got one from the store carries the STOP notice and a short
    link; once one went, the next does not repeat the notice.
    """
    # given
    first, touch = compose(Channel.SMS)
    database.touches[touch.id] = replace(touch, status=TouchStatus.SENT)

    # when
    second, _ = compose(Channel.SMS)

    # then
    assert "STOP" in first.message.text
    assert "STOP" not in second.message.text
    assert f"{BASE}/s/" in first.message.text
    assert first.message.status_callback == (
        f"{BASE}/webhooks/twilio/{touch.store_id}/status?touch={touch.id}"
    )


def test_a_store_that_changes_its_dkim_key_signs_with_the_new_one(
    compose: Callable[..., tuple[Composed, TouchRecord]],
    uow_factory: FakeUnitOfWorkFactory,
    clock: SimulatedClock,
    shop: Store,
) -> None:
    """
    The composer keeps a store's opened key only while the store's settings stay the same.
    """
    # given: a first email without a key
    unsigned, _ = compose()
    clock.advance(timedelta(minutes=1))
    configure_email(
        uow=uow_factory(),
        clock=clock,
        box=SecretBox([TEST_SECRET]),
        store_id=shop.id,
        dkim_selector=DKIM_SELECTOR,
        dkim_key_pem=dkim_test_key().pem,
    )

    # when
    signed, _ = compose()

    # then
    assert unsigned.message.email is not None
    assert signed.message.email is not None
    assert unsigned.message.email.dkim is None
    assert signed.message.email.dkim is not None
    assert DKIM_SELECTOR == signed.message.email.dkim.selector
