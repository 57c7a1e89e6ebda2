"""
Identifiers (`kit/ids.py`): prefixed, sorted by creation time, never repeated, also not
across a fork (the random bytes are read ahead a page at a time).
"""

from __future__ import annotations

import os
import re

from cartback.kit.ids import new_id, seeded_ids


def test_ids_carry_their_prefix_and_21_sortable_characters() -> None:
    """
    `ca_` then 21 characters of Crockford's lower-case base32.
    """
    # when
    made = new_id("ca")
    # then
    assert re.fullmatch(r"ca_[0-9a-hjkmnp-tv-z]{21}", made)


def test_ids_do_not_repeat_across_many_pages_of_random_bytes() -> None:
    """
    Far more ids than one read-ahead page holds are all distinct.
    """
    # when
    made = [new_id("x") for _ in range(20_000)]
    # then
    assert len(set(made)) == len(made)


def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    """
    A child forked while the parent holds unread random bytes does not hand out the same
    ones: their ids from the same millisecond would otherwise collide.
    """
    # given
    new_id("warm")  # the parent now holds a page of random bytes
    reader, writer = os.pipe()
    # when
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(reader)
        os.write(writer, "\n".join(new_id("x")[-11:] for _ in range(50)).encode())
        os._exit(0)
    os.close(writer)
    parent_ids = {new_id("x")[-11:] for _ in range(50)}
    with os.fdopen(reader) as pipe:
        child_ids = set(pipe.read().split("\n"))
    os.waitpid(child, 0)
    # then (the last 11 characters are random bits only)
    assert 50 == len(child_ids)
    assert not parent_ids & child_ids


def test_seeded_ids_repeat_for_the_same_seed() -> None:
    """
    The demo's ids are reproducible: the same seed and clock give the same ids.
    """

    # given
    def clock() -> int:
        return 1_700_000_000_000

    # when
    with seeded_ids(7, clock):
        first = [new_id("ca") for _ in range(3)]
    with seeded_ids(7, clock):
        second = [new_id("ca") for _ in range(3)]
    # then
    assert first == second
