"""
Composing one touch's message: its links (a restore link per touch, a short one for texts, the
unsubscribe link), the rendering (email or text), and what an email carries beyond its words
(From, Reply-To, a Message-ID on the store's domain, `List-Unsubscribe` with https and mailto,
the DKIM key). The dispatcher calls it inside its deciding transaction, so a text's short link is
written with the touch that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from cartback.domain.cart import Cart
from cartback.domain.consent import Channel
from cartback.domain.guards import ItemStock
from cartback.domain.ports import Contact, EmailEnvelope, OutboundMessage, TouchRecord, UnitOfWork
from cartback.domain.stores import Store
from cartback.kit.keys import SecretBox
from cartback.services.email_config import EmailIdentity, email_identity
from cartback.services.links import RestoreLinks, RestoreTarget
from cartback.services.message_parts import (
    MessageLinks,
    OfferView,
    Rendered,
    RenderRequest,
    TemplateOverride,
)
from cartback.services.message_settings import message_settings, restore_link_expiry
from cartback.services.permission import contact_address
from cartback.services.rendering import render_email
from cartback.services.short_links import short_link
from cartback.services.sms_text import render_sms
from cartback.services.templates import overrides_for
from cartback.services.unsubscribe import UnsubscribeLinks


@dataclass(frozen=True, kw_only=True, slots=True)
class Composed:
    """
    The message for the channel, and the rendering it came from (segments, cost).
    """

    message: OutboundMessage
    rendered: Rendered


#: Stores whose opened identities a composer keeps (a bound, not a tuning knob).
MAX_KNOWN_STORES = 1000


class Composer:
    """
    Builds messages with the service's links and secrets (made once, in `bootstrap`).
    """

    def __init__(self, *, secret_keys: list[str], base_url: str, box: SecretBox) -> None:
        self._base_url = base_url.rstrip("/")
        self._restore = RestoreLinks(secret_keys=secret_keys, base_url=base_url)
        self._unsubscribe = UnsubscribeLinks(secret_keys=secret_keys, base_url=base_url)
        self._box = box
        #: Each store's opened sender and DKIM key, until the store changes (`updated_at`).
        self._identities: dict[str, tuple[datetime, EmailIdentity]] = {}

    def compose(
        self,
        *,
        uow: UnitOfWork,
        store: Store,
        cart: Cart,
        contact: Contact,
        touch: TouchRecord,
        flow: str,
        stock: tuple[ItemStock, ...],
        now: datetime,
        overrides: Sequence[TemplateOverride] | None = None,
        offer: OfferView | None = None,
    ) -> Composed:
        """
        The touch's message, rendered and addressed. `overrides`: the store's templates for the
        touch's template and channel when the caller read them already (else read here).
        `offer`: the enrollment's live code, when the step shows one.
        """
        if overrides is None:
            overrides = overrides_for(uow, store.id, touch.template, touch.channel)
        request = RenderRequest(
            store=store,
            cart=cart,
            channel=touch.channel,
            template=touch.template,
            flow=flow,
            step=touch.step,
            links=self._links(uow, store, contact, touch, now),
            now=now,
            stock=stock,
            first_text=touch.channel is Channel.SMS
            and not uow.touches.has_sent(contact.id, Channel.SMS),
            overrides=tuple(overrides),
            offer=offer,
        )
        to = contact_address(contact, touch.channel) or ""
        if touch.channel is Channel.SMS:
            rendered = render_sms(request)
            callback = f"{self._base_url}/webhooks/twilio/{store.id}/status?touch={touch.id}"
            message = OutboundMessage(
                store_id=store.id,
                touch_id=touch.id,
                channel=touch.channel,
                to=to,
                subject=None,
                text=rendered.text,
                status_callback=callback,
            )
            return Composed(message=message, rendered=rendered)
        rendered = render_email(request)
        identity = self._identity(store)
        message = OutboundMessage(
            store_id=store.id,
            touch_id=touch.id,
            channel=touch.channel,
            to=to,
            subject=rendered.subject,
            text=rendered.text,
            email=self._envelope(rendered, identity, request.links, store, touch),
        )
        return Composed(message=message, rendered=rendered)

    @property
    def base_url(self) -> str:
        """
        The service's public URL, which the messages' links start with.
        """
        return self._base_url

    def read_restore(self, token: str) -> RestoreTarget:
        """
        Whom a restore token this composer's keys signed names (the send-time quality check).

        Raises:
            InvalidRestoreLink: no configured key signed the token.
        """
        return self._restore.read(token)

    def _identity(self, store: Store) -> EmailIdentity:
        """
        The store's sender and DKIM key, opened once per version of the store's settings.
        """
        known = self._identities.get(store.id)
        if known is not None and known[0] == store.updated_at:
            return known[1]
        identity = email_identity(store, self._box)
        if len(self._identities) >= MAX_KNOWN_STORES:
            self._identities.clear()
        self._identities[store.id] = (store.updated_at, identity)
        return identity

    def links(
        self, *, store: Store, contact_id: str, touch_id: str, channel: Channel, now: datetime
    ) -> MessageLinks:
        """
        The links of a message that needs no short link (email, previews); the restore link's
        lifetime starts at `now`.
        """
        return MessageLinks(
            restore=self._restore.url(store_id=store.id, touch_id=touch_id, now=now),
            short_restore=None,
            unsubscribe=self._unsubscribe.url(
                store_id=store.id, contact_id=contact_id, channel=channel
            ),
            store=store_home(store, self._base_url),
        )

    def _links(
        self, uow: UnitOfWork, store: Store, contact: Contact, touch: TouchRecord, now: datetime
    ) -> MessageLinks:
        found = self.links(
            store=store, contact_id=contact.id, touch_id=touch.id, channel=touch.channel, now=now
        )
        if touch.channel is not Channel.SMS:
            return found
        # A text's short link lives as long as the restore link it stands for.
        code = short_link(
            uow=uow, store_id=store.id, touch_id=touch.id, now=now, ttl=restore_link_expiry(store)
        )
        return MessageLinks(
            restore=found.restore,
            short_restore=f"{self._base_url}/s/{code}",
            unsubscribe=found.unsubscribe,
            store=found.store,
        )

    def _envelope(
        self,
        rendered: Rendered,
        identity: EmailIdentity,
        links: MessageLinks,
        store: Store,
        touch: TouchRecord,
    ) -> EmailEnvelope:
        """
        From, Reply-To (the store's, else its support address), a Message-ID from the touch id
        on the store's mail domain, and `List-Unsubscribe` with the one-click https URI first and
        a mailto to the store (RFC 8058; the https one works without the store's help).
        """
        reply_to = identity.reply_to or message_settings(store).support_email
        mailbox = reply_to or identity.address
        token = links.unsubscribe.rsplit("/", 1)[-1]
        mailto = f"mailto:{mailbox}?subject={quote('unsubscribe ' + token)}"
        return EmailEnvelope(
            html=rendered.html or "",
            sender=identity.sender,
            reply_to=reply_to,
            message_id=f"<{touch.id}@{identity.message_domain}>",
            list_unsubscribe=f"<{links.unsubscribe}>, <{mailto}>",
            dkim=identity.dkim,
        )


def store_home(store: Store, base_url: str) -> str:
    """
    The store's own site: its first domain over https, else the service's page.
    """
    return f"https://{store.domains[0]}" if store.domains else base_url
