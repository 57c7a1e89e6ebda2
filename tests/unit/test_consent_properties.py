"""
Ledger properties: whatever grants and withdrawals arrive, in whatever order and grouping, the
ledger only grows and its derived state is each channel and purpose's last word (by the time
it was said; a withdrawal wins a tie).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given, settings
from hypothesis import strategies as st

from cartback.domain.consent import Channel, ConsentClaim, Purpose, changes
from fakes import FakeDatabase, InMemoryConsentRepository

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CONTACT = "ct_1"


@st.composite
def claims(draw: st.DrawFn) -> ConsentClaim:
    """
    A grant or withdrawal on any channel and purpose, within an hour (ties happen).
    """
    return ConsentClaim(
        channel=draw(st.sampled_from(list(Channel))),
        purpose=draw(st.sampled_from(list(Purpose))),
        granted=draw(st.booleans()),
        text="Email me a link to my cart",
        source=draw(st.sampled_from(["cart_page", "shopify_checkout", "sms_keyword"])),
        occurred_at=T0 + timedelta(minutes=draw(st.integers(0, 60))),
    )


def last_word(said: list[ConsentClaim]) -> dict[tuple[Channel, Purpose], bool]:
    """
    The expected state: per channel and purpose, the latest claim; at the same time, no.
    """
    state: dict[tuple[Channel, Purpose], bool] = {}
    # Sorted by time with withdrawals first among equals, the last one written is the answer.
    for claim in sorted(said, key=lambda c: (c.occurred_at, not c.granted)):
        state[(claim.channel, claim.purpose)] = claim.granted
    return state


@settings(max_examples=300, deadline=None)
@given(
    said=st.lists(claims(), min_size=1, max_size=12),
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_any_arrival_yields_the_last_word_and_the_ledger_only_grows(
    said: list[ConsentClaim], order: Random, cuts: list[bool]
) -> None:
    """
    Shuffled and batched at random, folded through `changes` into the ledger: the state is the
    last word, and no batch removes or rewrites an earlier entry's claim.
    """
    # given
    arrival = list(said)
    order.shuffle(arrival)
    batches: list[list[ConsentClaim]] = [[]]
    for claim, cut in zip(arrival, cuts, strict=False):
        batches[-1].append(claim)
        if cut:
            batches.append([])
    database = FakeDatabase()
    ledger = InMemoryConsentRepository(database)
    # when
    for batch in filter(None, batches):
        before = [entry.claim for _, _, entry in database.consents]
        ledger.record("st_1", CONTACT, changes(ledger.current(CONTACT), batch), now=T0)
        after = [entry.claim for _, _, entry in database.consents]
        assert before == after[: len(before)]
    # then
    state = {key: fact.granted for key, fact in ledger.current(CONTACT).items()}
    assert last_word(said) == state
