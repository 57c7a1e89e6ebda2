"""
Helpers the tests share: auth headers and Segment message builders.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime
from typing import Any

TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _selected_backends() -> list[str]:
    chosen = os.environ.get("CARTBACK_TEST_BACKENDS")
    if chosen:
        return [b.strip() for b in chosen.split(",") if b.strip()]
    return ["sqlite", "postgresql"]


#: The database backends this run tests on (`CARTBACK_TEST_BACKENDS`, default both).
BACKENDS = _selected_backends()


def auth(key: str) -> dict[str, str]:
    """
    The Bearer header for a key.
    """
    return {"Authorization": f"Bearer {key}"}


def track(
    event: str,
    *,
    anonymous_id: str | None = "anon-1",
    user_id: str | None = None,
    at: datetime | None = None,
    message_id: str | None = None,
    **properties: Any,
) -> dict[str, Any]:
    """
    A Segment track message.
    """
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "messageId": message_id or uuid.uuid4().hex,
        "properties": properties,
    }
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if user_id is not None:
        message["userId"] = user_id
    if at is not None:
        message["timestamp"] = at.isoformat()
    return message


def identify(
    *,
    anonymous_id: str | None = "anon-1",
    user_id: str | None = None,
    at: datetime | None = None,
    **traits: Any,
) -> dict[str, Any]:
    """
    A Segment identify message.
    """
    message: dict[str, Any] = {"type": "identify", "messageId": uuid.uuid4().hex, "traits": traits}
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if user_id is not None:
        message["userId"] = user_id
    if at is not None:
        message["timestamp"] = at.isoformat()
    return message


#: Every problem document carries these (RFC 9457 plus the fields Segment's SDKs read).
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "message"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """
    The problem document of a response, after checking it is one with this status.
    """
    assert status == response.status_code, response.text
    assert "application/problem+json" == response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert PROBLEM_FIELDS <= body.keys()
    assert status == body["status"]
    return body
