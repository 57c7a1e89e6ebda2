"""
A store's email identity (`services.email_config`): the From it sends as (by default its name at
no-reply@ its first domain), a DKIM key and a webhook secret sealed at rest, the DNS record to
publish, and every bad field refused with nothing changed.
"""

from __future__ import annotations

from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cartback.domain.errors import InvalidInput, NotFound, Unauthenticated
from cartback.domain.stores import Store
from cartback.engine.clock import SimulatedClock
from cartback.kit.keys import SecretBox
from cartback.services.email_config import (
    configure_email,
    dkim_record,
    email_identity,
    email_webhook_secrets,
)
from email_support import WEBHOOK_SECRET, dkim_test_key
from fakes import FakeDatabase, FakeUnitOfWorkFactory
from helpers import TEST_SECRET


@pytest.fixture
def box() -> SecretBox:
    """
    The service's sealing box.
    """
    return SecretBox([TEST_SECRET])


@pytest.fixture
def configure(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, box: SecretBox, shop: Store
) -> Any:
    """
    `configure_email` for the shop, keywords as the command gives them.
    """

    def run(**values: Any) -> Store:
        return configure_email(uow=uow_factory(), clock=clock, box=box, store_id=shop.id, **values)

    return run


def test_a_store_without_settings_sends_as_its_name_at_no_reply(
    shop: Store, box: SecretBox
) -> None:
    """
    "<store name> <no-reply@<first domain>>", Message-IDs on that domain, no DKIM.
    """
    # when
    identity = email_identity(shop, box)

    # then
    assert "Fake Shop <no-reply@shop.example.com>" == identity.sender
    assert "no-reply@shop.example.com" == identity.address
    assert "shop.example.com" == identity.message_domain
    assert (None, None) == (identity.reply_to, identity.dkim)


def test_the_configured_identity_is_read_back_with_the_key_opened(
    configure: Any, database: FakeDatabase, box: SecretBox, shop: Store
) -> None:
    """
    From, Reply-To and the DKIM key (d= the sender's domain) as given; the key sealed at rest.
    """
    # given
    key = dkim_test_key().pem

    # when
    saved = configure(
        sender="Shop, Inc. <Orders@Mail.Shop.Example>",
        reply_to="help@shop.example",
        dkim_selector="s1",
        dkim_key_pem=key,
    )

    # then
    identity = email_identity(saved, box)
    assert '"Shop, Inc." <orders@mail.shop.example>' == identity.sender
    assert "mail.shop.example" == identity.message_domain
    assert "help@shop.example" == identity.reply_to
    assert identity.dkim is not None
    assert ("mail.shop.example", "s1") == (identity.dkim.domain, identity.dkim.selector)
    stored = database.stores[shop.id].settings["email"]
    assert isinstance(stored, dict)
    assert "PRIVATE KEY" not in str(stored["dkim_key"])


def test_the_dns_record_publishes_the_public_half(configure: Any, box: SecretBox) -> None:
    """
    `s1._domainkey.<domain>` with `v=DKIM1; k=rsa; p=…`, which dkimpy reads as the key.
    """
    # given
    saved = configure(
        sender="orders@shop.example.com", dkim_selector="s1", dkim_key_pem=dkim_test_key().pem
    )
    identity = email_identity(saved, box)
    assert identity.dkim is not None

    # when
    record = dkim_record(identity.dkim)

    # then
    assert "s1._domainkey.shop.example.com" == record.name
    assert record.value.startswith("v=DKIM1; k=rsa; p=")
    assert dkim_test_key().txt.decode() == record.value
    assert dkim.parse_tag_value(record.value.encode())[b"p"]


def test_the_webhook_secret_is_sealed_and_opened(
    configure: Any,
    uow_factory: FakeUnitOfWorkFactory,
    database: FakeDatabase,
    box: SecretBox,
    shop: Store,
) -> None:
    """
    Stored sealed; the webhook receiver gets it back.
    """
    # when
    configure(webhook_secret=WEBHOOK_SECRET)

    # then
    assert WEBHOOK_SECRET not in str(database.stores[shop.id].settings)
    assert [WEBHOOK_SECRET] == email_webhook_secrets(uow=uow_factory(), box=box, store_id=shop.id)


def test_without_a_webhook_secret_nothing_can_be_verified(
    uow_factory: FakeUnitOfWorkFactory, box: SecretBox, shop: Store
) -> None:
    """
    Unauthenticated, naming the command that sets one.
    """
    with pytest.raises(Unauthenticated, match="cartback email configure"):
        email_webhook_secrets(uow=uow_factory(), box=box, store_id=shop.id)


def _ec_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"sender": "not an address"}, "from"),
        ({"sender": "Shop <orders@shop.example>\r\nBcc: x@evil.example"}, "from"),
        ({"reply_to": "help@"}, "reply_to"),
        ({"dkim_selector": "s_1.x", "dkim_key_pem": dkim_test_key().pem}, "dkim_selector"),
        ({"dkim_selector": "s1", "dkim_key_pem": "-----BEGIN NOTHING-----"}, "dkim_key"),
        ({"dkim_selector": "s1", "dkim_key_pem": _ec_key()}, "dkim_key"),
        ({"dkim_selector": "s1"}, "dkim_selector"),
        ({"webhook_secret": "secret"}, "webhook_secret"),
        ({"webhook_secret": "whsec_!!!"}, "webhook_secret"),
    ],
    ids=[
        "sender",
        "sender-injection",
        "reply-to",
        "selector",
        "not-pem",
        "not-rsa",
        "selector-without-key",
        "secret-prefix",
        "secret-base64",
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(
    configure: Any, database: FakeDatabase, shop: Store, values: dict[str, Any], path: str
) -> None:
    """
    Each bad field is named; the store's settings stay as they were.
    """
    # given
    before = dict(database.stores[shop.id].settings)

    # when
    with pytest.raises(InvalidInput) as raised:
        configure(**values)

    # then
    assert path in [e.path for e in raised.value.errors]
    assert before == database.stores[shop.id].settings


def test_nothing_to_change_is_refused(configure: Any) -> None:
    """
    A configure call with no setting is a mistake, not a no-op.
    """
    with pytest.raises(InvalidInput, match="nothing to change"):
        configure()


def test_an_unknown_store_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, clock: SimulatedClock, box: SecretBox
) -> None:
    """
    NotFound, as for every store-scoped change.
    """
    with pytest.raises(NotFound):
        configure_email(
            uow=uow_factory(), clock=clock, box=box, store_id="st_nope", reply_to="a@b.example"
        )
