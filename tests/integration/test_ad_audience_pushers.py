"""
The audience pushers (`channels/ads/meta.py`, `google.py`) against a local server that checks
every request as Meta's Custom Audience Users edge and Google's OfflineUserDataJobService
document them (`tests/ads_networks.py`: path, method, credentials, body schema, 64 lowercase
hex digits per hash) and keeps each list's members. Proved here: adds and removes reach the
lists, changes are split within each network's limits, 429 (with `Retry-After`) and 500 are
retried then succeed, a refusal is final at once with the network's message and never a token.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from ads_networks import (
    GOOGLE_ACCESS,
    GOOGLE_CUSTOMER,
    GOOGLE_DEVELOPER,
    GOOGLE_LOGIN,
    GOOGLE_VERSION,
    META_TOKEN,
    META_VERSION,
    SECRETS,
    FakeAdNetworks,
    serving,
)
from cartback.channels.ads import google as google_module
from cartback.channels.ads import meta as meta_module
from cartback.channels.ads._http import RetryPolicy
from cartback.channels.ads.google import GoogleAudiencePusher
from cartback.channels.ads.meta import MetaAudiencePusher
from cartback.domain.ad_hashing import Network, hashed
from cartback.domain.errors import AdsError

AUDIENCE = "23851234567890"
USER_LIST = f"customers/{GOOGLE_CUSTOMER}/userLists/555"
PEOPLE = [
    ("  Ada@Example.COM ", "+44 20 7946 0958"),
    ("grace@example.com", None),
    (None, "+1 (650) 555-1212"),
]


@pytest.fixture
def networks() -> Iterator[FakeAdNetworks]:
    with serving() as fake:
        yield fake


def meta_pusher(fake: FakeAdNetworks, sleeps: list[float], **options: object) -> MetaAudiencePusher:
    return MetaAudiencePusher(
        access_token=META_TOKEN,
        api_url=f"{fake.url}/meta",
        api_version=META_VERSION,
        sleep=sleeps.append,
        **options,  # type: ignore[arg-type]
    )


def google_pusher(
    fake: FakeAdNetworks, sleeps: list[float], **options: object
) -> GoogleAudiencePusher:
    return GoogleAudiencePusher(
        developer_token=GOOGLE_DEVELOPER,
        access_token=GOOGLE_ACCESS,
        customer_id=GOOGLE_CUSTOMER,
        login_customer_id=options.pop("login_customer_id", GOOGLE_LOGIN),  # type: ignore[arg-type]
        api_url=f"{fake.url}/google",
        api_version=GOOGLE_VERSION,
        sleep=sleeps.append,
        **options,  # type: ignore[arg-type]
    )


def identifiers(network: Network) -> list[tuple[str, str]]:
    return [pair for email, phone in PEOPLE for pair in hashed(network, email, phone)]


def many(count: int, kind: str = "email") -> list[tuple[str, str]]:
    return [(kind, hashlib.sha256(f"{kind}{i}".encode()).hexdigest()) for i in range(count)]


# --- Meta ---------------------------------------------------------------------------------


def test_meta_add_and_remove_reach_the_custom_audience(networks: FakeAdNetworks) -> None:
    """
    Adding posts each kind's hashes under its schema with the token in the body; removing
    sends DELETE to the same edge; the audience ends with what was added minus what was removed.
    """
    # given
    pusher, wanted = meta_pusher(networks, []), identifiers(Network.META)
    # when
    pusher.add(AUDIENCE, wanted)
    pusher.remove(AUDIENCE, wanted[:1])
    # then
    assert [] == networks.problems
    assert {digest for _, digest in wanted[1:]} == networks.meta_lists[AUDIENCE]
    requests = networks.requests("meta")
    assert ["POST", "POST", "DELETE"] == [r.method for r in requests]
    assert {f"/{META_VERSION}/{AUDIENCE}/users"} == {r.path for r in requests}


def test_meta_splits_25000_identifiers_into_three_requests_of_at_most_10000(
    networks: FakeAdNetworks,
) -> None:
    """
    Meta takes at most 10,000 records a request: 25,000 go in 10,000 + 10,000 + 5,000.
    """
    # given
    pusher = meta_pusher(networks, [])
    # when
    pusher.add(AUDIENCE, many(25_000))
    # then
    assert 10_000 == meta_module.MAX_RECORDS
    sizes = [len(_meta_data(r.body)) for r in networks.requests("meta")]
    assert [10_000, 10_000, 5_000] == sizes
    assert 25_000 == len(networks.meta_lists[AUDIENCE])


def test_meta_waits_as_a_429_asks_then_succeeds(networks: FakeAdNetworks) -> None:
    """
    A 429 with `Retry-After: 7` waits 7 seconds and tries the same batch again.
    """
    # given
    sleeps: list[float] = []
    networks.plan("meta", (429, {"Retry-After": "7"}, _throttled()))
    # when
    meta_pusher(networks, sleeps).add(AUDIENCE, many(3))
    # then
    assert [7.0] == sleeps
    assert 2 == len(networks.requests("meta"))
    assert 3 == len(networks.meta_lists[AUDIENCE])


def test_meta_retries_a_500_with_back_off_then_succeeds(networks: FakeAdNetworks) -> None:
    """
    A 500 without `Retry-After` waits the policy's first delay and tries again.
    """
    # given
    sleeps: list[float] = []
    networks.plan("meta", (500, {}, {"error": {"message": "An unknown error", "code": 1}}))
    # when
    meta_pusher(networks, sleeps, retry=RetryPolicy(base_delay=0.5)).add(AUDIENCE, many(2))
    # then
    assert [0.5] == sleeps
    assert 2 == len(networks.meta_lists[AUDIENCE])


def test_meta_gives_up_transient_after_the_attempts(networks: FakeAdNetworks) -> None:
    """
    Rate limited on every attempt: the pusher stops after the policy's attempts and raises a
    transient error carrying the wait Meta asked for, for the next pass.
    """
    # given
    sleeps: list[float] = []
    networks.plan("meta", *[(429, {"Retry-After": "2"}, _throttled())] * 3)
    # when
    with pytest.raises(AdsError) as raised:
        meta_pusher(networks, sleeps, retry=RetryPolicy(attempts=3)).add(AUDIENCE, many(1))
    # then
    assert (True, 2.0) == (raised.value.transient, raised.value.retry_after)
    assert [2.0, 2.0] == sleeps
    assert 3 == len(networks.requests("meta"))


def test_meta_refusal_is_final_with_metas_message_and_no_token(networks: FakeAdNetworks) -> None:
    """
    A 400 Meta does not mark transient is not retried; the reason is Meta's message, with the
    token masked where Meta echoes it.
    """
    # given
    sleeps: list[float] = []
    echo = f"Audience Upload Blocked for token {META_TOKEN}"
    refusal = {"error": {"message": "Invalid parameter", "code": 100, "error_user_msg": echo}}
    networks.plan("meta", (400, {}, refusal))
    # when
    with pytest.raises(AdsError) as raised:
        meta_pusher(networks, sleeps).add(AUDIENCE, many(1))
    # then
    assert not raised.value.transient
    assert "meta_100: Audience Upload Blocked for token ***" == raised.value.reason
    assert [] == sleeps
    assert 1 == len(networks.requests("meta"))


def test_meta_throttling_code_is_transient_even_as_a_400(networks: FakeAdNetworks) -> None:
    """
    Meta reports its custom-audience rate limit (code 80003) as a 400: it is retried.
    """
    # given
    sleeps: list[float] = []
    limit = {"error": {"message": "There have been too many calls", "code": 80003}}
    networks.plan("meta", (400, {}, limit))
    # when
    meta_pusher(networks, sleeps).add(AUDIENCE, many(1))
    # then
    assert [1.0] == sleeps
    assert 1 == len(networks.meta_lists[AUDIENCE])


def test_meta_refuses_a_malformed_audience_id_without_calling(networks: FakeAdNetworks) -> None:
    """
    A list id that is not a Custom Audience's number is a final error and no request.
    """
    # when
    with pytest.raises(AdsError) as raised:
        meta_pusher(networks, []).add("../me", many(1))
    # then
    assert not raised.value.transient
    assert [] == networks.received


# --- Google -------------------------------------------------------------------------------


def test_google_add_creates_a_job_adds_operations_and_runs_it(networks: FakeAdNetworks) -> None:
    """
    An add is one Customer Match job: create (for the user list), addOperations (creates with
    `hashedEmail` / `hashedPhoneNumber`), run; with the bearer, developer and login headers.
    """
    # given
    wanted = identifiers(Network.GOOGLE)
    # when
    google_pusher(networks, []).add(USER_LIST, wanted)
    # then
    assert [] == networks.problems
    paths = [r.path.rsplit(":", 1)[-1] for r in networks.requests("google")]
    assert ["create", "addOperations", "run"] == paths
    assert {digest for _, digest in wanted} == networks.google_lists[USER_LIST]
    operations = networks.requests("google")[1].body["operations"]
    assert {"hashedEmail": wanted[0][1]} == operations[0]["create"]["userIdentifiers"][0]


def test_google_remove_runs_a_job_of_removals(networks: FakeAdNetworks) -> None:
    """
    A removal is its own job (Google does not mix creates and removes) and empties the list.
    """
    # given
    wanted = identifiers(Network.GOOGLE)
    pusher = google_pusher(networks, [])
    pusher.add(USER_LIST, wanted)
    # when
    pusher.remove(USER_LIST, wanted)
    # then
    assert [] == networks.problems
    assert set() == networks.google_lists[USER_LIST]
    assert "remove" in networks.requests("google")[4].body["operations"][0]


def test_google_hashes_phones_with_the_plus_unlike_meta() -> None:
    """
    The same number hashes differently per network: Google's E.164 keeps `+`, Meta's drops it.
    """
    # when
    google, meta = dict(identifiers(Network.GOOGLE)[1:2]), dict(identifiers(Network.META)[1:2])
    # then
    assert google["phone"] == hashlib.sha256(b"+442079460958").hexdigest()
    assert meta["phone"] == hashlib.sha256(b"442079460958").hexdigest()


def test_google_splits_operations_into_batches(networks: FakeAdNetworks) -> None:
    """
    Operations go `batch_size` a request into one job (the real batch is Google's advised
    10,000, under its 100,000 ceiling); the job runs once at the end.
    """
    # given
    pusher = google_pusher(networks, [], batch_size=10)
    # when
    pusher.add(USER_LIST, many(25, "phone"))
    # then
    assert (100_000, 10_000) == (google_module.MAX_OPERATIONS, google_module.BATCH_SIZE)
    requests = networks.requests("google")
    sizes = [len(r.body["operations"]) for r in requests if r.path.endswith(":addOperations")]
    assert [10, 10, 5] == sizes
    assert requests[-1].path.endswith(":run")
    assert 25 == len(networks.google_lists[USER_LIST])


def test_google_retries_429_and_500_then_succeeds(networks: FakeAdNetworks) -> None:
    """
    A 429 with `Retry-After: 3` on create, then a 500 on addOperations: each waits and tries
    the same request again; the job runs once and the list holds the identifier.
    """
    # given
    sleeps: list[float] = []
    busy = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota"}}
    down = {"error": {"code": 500, "status": "INTERNAL", "message": "Internal error"}}
    networks.plan("google", (429, {"Retry-After": "3"}, busy), None, (500, {}, down))
    # when
    google_pusher(networks, sleeps).add(USER_LIST, many(1))
    # then
    assert [3.0, 1.0] == sleeps
    verbs = [r.path.rsplit(":", 1)[-1] for r in networks.requests("google")]
    assert ["create", "create", "addOperations", "addOperations", "run"] == verbs
    assert 1 == len(networks.google_lists[USER_LIST])


def test_google_refusal_is_final_with_googles_message_and_no_token(
    networks: FakeAdNetworks,
) -> None:
    """
    A 400 is not retried; the reason is the first GoogleAdsFailure message, never a token.
    """
    # given
    sleeps: list[float] = []
    message = f"The user list is closed (token {GOOGLE_ACCESS})"
    refusal = {
        "error": {
            "code": 400,
            "status": "INVALID_ARGUMENT",
            "message": "Request contains an invalid argument.",
            "details": [{"errors": [{"message": message}]}],
        }
    }
    networks.plan("google", (400, {}, refusal))
    # when
    with pytest.raises(AdsError) as raised:
        google_pusher(networks, sleeps).add(USER_LIST, many(1))
    # then
    assert not raised.value.transient
    assert "google_INVALID_ARGUMENT: The user list is closed (token ***)" == raised.value.reason
    assert not any(secret in raised.value.reason for secret in SECRETS)
    assert [] == sleeps


def test_google_without_a_manager_sends_no_login_customer_header(
    networks: FakeAdNetworks,
) -> None:
    """
    `login-customer-id` goes only when the access goes through a manager account.
    """
    # given
    networks.login_customer = None
    # when
    google_pusher(networks, [], login_customer_id=None).add(USER_LIST, many(1))
    # then
    assert [] == networks.problems
    assert all("login-customer-id" not in r.headers for r in networks.requests("google"))


def _meta_data(form: object) -> list[str]:
    assert isinstance(form, dict)
    return list(json.loads(form["payload"][0])["data"])


def _throttled() -> dict[str, object]:
    return {"error": {"message": "User request limit reached", "code": 17}}
