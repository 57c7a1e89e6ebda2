"""
The SSRF guard of outbound webhooks: which URLs and addresses are refused, and why; names are
resolved by a fake resolver (no DNS, no network).
"""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from cartback.domain.destinations import (
    UnsafeDestination,
    check_addresses,
    parse_destination,
    refusal,
)
from cartback.services.webhooks import DestinationPolicy, check_destination
from cartback.settings import Environment, Settings
from webhook_fakes import FakeResolver

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def _refused(url: str, table: dict[str, list[str]] | None = None) -> str:
    policy = DestinationPolicy(resolver=FakeResolver(table or {}))
    with pytest.raises(UnsafeDestination) as raised:
        check_destination(url, policy)
    assert "url" == raised.value.errors[0].path
    return raised.value.reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "is a loopback address (127.0.0.1)"),
        ("https://127.8.9.10/hook", "is a loopback address (127.8.9.10)"),
        ("https://10.1.2.3/hook", "is a private address (10.1.2.3)"),
        ("https://172.16.0.1/hook", "is a private address (172.16.0.1)"),
        ("https://172.31.255.255/hook", "is a private address (172.31.255.255)"),
        ("https://192.168.1.1/hook", "is a private address (192.168.1.1)"),
        ("https://169.254.169.254/latest/meta-data/", "is a link-local address (169.254.169.254)"),
        ("https://100.64.0.1/hook", "is a shared (CGNAT) address (100.64.0.1)"),
        ("https://0.0.0.0/hook", "is an unspecified address (0.0.0.0)"),
        ("https://224.0.0.1/hook", "is a multicast address (224.0.0.1)"),
        ("https://240.0.0.1/hook", "is a reserved address (240.0.0.1)"),
        ("https://255.255.255.255/hook", "is a reserved address (255.255.255.255)"),
        ("https://[::1]/hook", "is a loopback address (::1)"),
        ("https://[::]/hook", "is an unspecified address (::)"),
        ("https://[fe80::1]/hook", "is a link-local address (fe80::1)"),
        ("https://[fd00::1]/hook", "is a private address (fd00::1)"),
        ("https://[ff02::1]/hook", "is a multicast address (ff02::1)"),
        (
            "https://[::ffff:127.0.0.1]/hook",
            "is a loopback address (inside an IPv6 address) (::ffff:7f00:1)",
        ),
        (
            "https://[::ffff:169.254.169.254]/hook",
            "is a link-local address (inside an IPv6 address) (::ffff:a9fe:a9fe)",
        ),
        ("https://[::127.0.0.1]/hook", "is an IPv4-compatible IPv6 address (::7f00:1)"),
        (
            "https://[2002:7f00:1::1]/hook",
            "is a loopback address (inside an IPv6 address) (2002:7f00:1::1)",
        ),
        (
            "https://[64:ff9b::a00:1]/hook",
            "is a private address (inside an IPv6 address) (64:ff9b::a00:1)",
        ),
        ("https://[2001::1]/hook", "is a Teredo tunnel address (2001::1)"),
    ],
)
def test_private_and_special_addresses_are_refused(url: str, reason: str) -> None:
    """
    Loopback, private, link-local (cloud metadata), CGNAT, unspecified, multicast, reserved,
    and IPv6 forms carrying such an IPv4 address.
    """
    assert reason == _refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "https://2130706433/",
        "https://0x7f.1/",
        "https://0x7f000001/",
        "https://0177.0.0.1/",
        "https://127.1/",
        "https://127.0.1/",
        "https://1.2.3.4.5/",
        "https://010.0.0.1/",
    ],
)
def test_ipv4_in_decimal_octal_hex_or_short_form_is_refused(url: str) -> None:
    """
    Spellings that HTTP clients read as 127.0.0.1 (or another address) never reach the check.
    """
    assert _refused(url).startswith("writes an IPv4 address in a non-standard form")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "must be an https URL"),
        ("ftp://hooks.example.com/x", "must be an https URL"),
        ("file:///etc/passwd", "must be an https URL"),
        ("gopher://hooks.example.com/", "must be an https URL"),
        ("https://user:pw@hooks.example.com/x", "must not contain credentials"),
        ("https://user@hooks.example.com/x", "must not contain credentials"),
        ("https://hooks.example.com./x", "has a host name ending in a dot"),
        ("https://localhost/x", "names localhost"),
        ("https://api.localhost/x", "names localhost"),
        ("https:///x", "has no host"),
        ("https://hooks.example.com/x#frag", "must not have a fragment"),
        ("https://hooks.example.com:0/x", "has port 0"),
        ("https://hooks.example.com/x y", "contains spaces or control characters"),
        ("https://[fe80::1%25eth0]/x", "must not name an IPv6 zone"),
        ("https://bad_host!.example.com/", "has an invalid host name"),
    ],
)
def test_malformed_or_unsafe_urls_are_refused(url: str, reason: str) -> None:
    """
    Only https, without credentials, fragment, trailing dot or localhost names.
    """
    assert reason == _refused(url)


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ({"hooks.example.com": ["10.0.0.7"]}, "resolves to a private address (10.0.0.7)"),
        ({"hooks.example.com": ["127.0.0.1"]}, "resolves to a loopback address (127.0.0.1)"),
        ({"hooks.example.com": ["::1"]}, "resolves to a loopback address (::1)"),
        (
            {"hooks.example.com": ["169.254.169.254"]},
            "resolves to a link-local address (169.254.169.254)",
        ),
        (
            {"hooks.example.com": [PUBLIC_V4, "192.168.0.10"]},
            "resolves to a private address (192.168.0.10)",
        ),
        ({}, "does not resolve to any address"),
    ],
)
def test_names_resolving_to_any_private_address_are_refused(
    table: dict[str, list[str]], reason: str
) -> None:
    """
    Every address a name resolves to must be public: one private answer is enough to refuse.
    """
    assert reason == _refused("https://hooks.example.com/cartback", table)


def test_a_public_name_is_accepted_with_its_checked_addresses() -> None:
    """
    The check returns the addresses the connection may use.
    """
    # given
    resolver = FakeResolver({"hooks.example.com": [PUBLIC_V4, PUBLIC_V6]})
    # when
    destination, addresses = check_destination(
        "https://Hooks.Example.com:8443/in?x=1", DestinationPolicy(resolver=resolver)
    )
    # then
    assert ("hooks.example.com", 8443, "/in?x=1") == (
        destination.host,
        destination.port,
        destination.target,
    )
    assert [ipaddress.ip_address(PUBLIC_V4), ipaddress.ip_address(PUBLIC_V6)] == addresses
    assert f"https://{PUBLIC_V4}:8443/in?x=1" == destination.url_for(addresses[0])
    assert f"https://[{PUBLIC_V6}]:8443/in?x=1" == destination.url_for(addresses[1])
    assert "hooks.example.com:8443" == destination.host_header


def test_a_public_ip_literal_needs_no_resolver() -> None:
    """
    An address in the URL is checked as it is.
    """
    resolver = FakeResolver()
    _, addresses = check_destination(f"https://{PUBLIC_V4}/h", DestinationPolicy(resolver=resolver))
    assert [ipaddress.ip_address(PUBLIC_V4)] == addresses
    assert [] == resolver.asked


def test_public_addresses_inside_ipv6_forms_are_accepted() -> None:
    """
    6to4 and NAT64 addresses of a public IPv4 address are public.
    """
    assert refusal(ipaddress.ip_address("2002:5db8:d70e::1")) is None
    assert refusal(ipaddress.ip_address("64:ff9b::5db8:d70e")) is None
    assert refusal(ipaddress.ip_address(PUBLIC_V6)) is None


def test_allowed_hosts_may_use_http_and_local_addresses() -> None:
    """
    The development allow list lets a test's local receiver through, and nothing else.
    """
    allowed = parse_destination("http://127.0.0.1:8080/hook", allow_hosts={"127.0.0.1"})
    assert ["127.0.0.1"] == [str(a) for a in check_addresses(allowed, [])]
    with pytest.raises(UnsafeDestination):
        check_destination(
            "http://10.0.0.1:8080/hook",
            DestinationPolicy(resolver=FakeResolver(), allow_hosts=frozenset({"127.0.0.1"})),
        )


def test_the_allow_list_is_refused_in_production() -> None:
    """
    `CARTBACK_WEBHOOK_ALLOW_HOSTS` is for development and tests only.
    """
    values = {"env": Environment.PRODUCTION, "secret_key": "k" * 40}
    assert frozenset() == Settings(**values).webhook_allow_list
    with pytest.raises(ValidationError, match="CARTBACK_WEBHOOK_ALLOW_HOSTS"):
        Settings(**values, webhook_allow_hosts="127.0.0.1")
    allowed = Settings(env=Environment.TEST, webhook_allow_hosts=" 127.0.0.1, LocalHost ,")
    assert frozenset({"127.0.0.1", "localhost"}) == allowed.webhook_allow_list
