"""
Where Cartback may send a merchant's webhooks: the rules that keep a destination URL from
reaching the service's own network (SSRF). Pure: the caller resolves names (a `Resolver`
port) and hands the addresses back here.

A destination is `https://host[:port]/path?query`, without credentials or fragment; the host is
a DNS name or an IP address written the standard way (dotted decimal IPv4, bracketed IPv6).
Every address it stands for must be public: loopback, private, link-local (cloud metadata at
169.254.169.254 included), shared (CGNAT), unspecified, multicast, reserved and documentation
ranges are refused, and so are IPv6 forms that carry such an IPv4 address (IPv4-mapped,
IPv4-compatible, 6to4, NAT64) or tunnel to one (Teredo). IPv4 spelled in decimal, octal or hex
(`2130706433`, `0x7f.1`, `0177.0.0.1`), or with fewer than four parts (`127.1`), is refused
outright, as are names ending in a dot and `localhost` names.

Hosts on the development allow list (`CARTBACK_WEBHOOK_ALLOW_HOSTS`, refused in production)
may use `http` and any address: a test's local server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cartback.domain.errors import FieldError, InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?")
#: A last label WHATWG URL parsers read as an IPv4 number (decimal, octal or hex).
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_DOTTED_QUAD = re.compile(r"(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}")

_V4_REFUSED: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "an unspecified address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (CGNAT) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a reserved address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_V6_REFUSED: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("fc00::/7", "a private address"),
        ("ff00::/8", "a multicast address"),
        ("100::/64", "a reserved address"),
        ("2001::/32", "a Teredo tunnel address"),
        ("2001:db8::/32", "a documentation address"),
        ("64:ff9b:1::/48", "a private NAT64 address"),
    )
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeDestination(InvalidInput):
    """
    The webhook URL may not be used: it is malformed, not https, or reaches a non-public
    address.
    """

    slug = "unsafe-destination"

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"the webhook URL is refused: {reason}",
            errors=[FieldError(path="url", message=reason)],
        )
        self.reason = reason


@dataclass(frozen=True, kw_only=True, slots=True)
class Destination:
    """
    A parsed webhook URL.
    """

    url: str
    scheme: str
    #: Lower-case ASCII (IDNA) name, or the canonical text of an IP address.
    host: str
    port: int
    #: Path and query, as sent in the request line.
    target: str
    #: The address when the URL names one, else None (a name to resolve).
    address: IPAddress | None
    #: On the development allow list: any scheme of http/https and any address.
    trusted: bool

    @property
    def host_header(self) -> str:
        """
        The `Host` header: the host, with the port when it is not the scheme's default.
        """
        shown = f"[{self.host}]" if isinstance(self.address, ipaddress.IPv6Address) else self.host
        default = 443 if self.scheme == "https" else 80
        return shown if self.port == default else f"{shown}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """
        The URL with the host replaced by the checked address (the connection goes there and
        nowhere else: no second lookup that DNS rebinding could answer differently).
        """
        shown = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        return f"{self.scheme}://{shown}:{self.port}{self.target}"


def parse_destination(url: str, *, allow_hosts: Collection[str] = ()) -> Destination:
    """
    Read and check a webhook URL's form (not yet its addresses: see `check_addresses`).

    Raises:
        UnsafeDestination: with the reason.
    """
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeDestination(f"is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeDestination("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeDestination(f"is not a valid URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UnsafeDestination("must be an https URL")
    if "@" in parts.netloc:
        raise UnsafeDestination("must not contain credentials")
    if parts.fragment or url.endswith("#"):
        raise UnsafeDestination("must not have a fragment")
    host, address = _host(parts.netloc, parts.hostname)
    trusted = host in {h.strip().lower() for h in allow_hosts if h.strip()}
    if scheme != "https" and not trusted:
        raise UnsafeDestination("must be an https URL")
    if port == 0:
        raise UnsafeDestination("has port 0")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(
        url=url,
        scheme=scheme,
        host=host,
        port=port or (443 if scheme == "https" else 80),
        target=target,
        address=address,
        trusted=trusted,
    )


def _host(netloc: str, hostname: str | None) -> tuple[str, IPAddress | None]:
    if not hostname:
        raise UnsafeDestination("has no host")
    if netloc.startswith("["):
        if "%" in hostname:
            raise UnsafeDestination("must not name an IPv6 zone")
        try:
            return hostname, ipaddress.IPv6Address(hostname)
        except ValueError:
            raise UnsafeDestination("has an invalid IPv6 address") from None
    if hostname.endswith("."):
        raise UnsafeDestination("has a host name ending in a dot")
    try:
        ascii_host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeDestination("has an invalid host name") from None
    labels = ascii_host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # What a browser (and many HTTP clients) would read as an IPv4 address.
        if not _DOTTED_QUAD.fullmatch(ascii_host):
            raise UnsafeDestination(
                "writes an IPv4 address in a non-standard form (use dotted decimal a.b.c.d)"
            )
        return ascii_host, ipaddress.IPv4Address(ascii_host)
    if len(ascii_host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise UnsafeDestination("has an invalid host name")
    if labels[-1] == "localhost":
        raise UnsafeDestination("names localhost")
    return ascii_host, None


def refusal(address: IPAddress) -> str | None:
    """
    Why an address may not receive webhooks ("a loopback address", ...), or None when it is
    public.
    """
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _V4_REFUSED:
            if address in network:
                return reason
        return None if address.is_global else "not a public address"
    embedded = _embedded_v4(address)
    if embedded is not None:
        inner = refusal(embedded)
        return None if inner is None else f"{inner} (inside an IPv6 address)"
    if address in _COMPATIBLE:
        return _compatible_refusal(address)
    for v6_network, reason in _V6_REFUSED:
        if address in v6_network:
            return reason
    return None if address.is_global else "not a public address"


def _compatible_refusal(address: ipaddress.IPv6Address) -> str:
    for v6_network, reason in _V6_REFUSED[:2]:  # :: and ::1 keep their own names
        if address in v6_network:
            return reason
    return "an IPv4-compatible IPv6 address"


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """
    The IPv4 address an IPv4-mapped, 6to4 or NAT64 address carries.
    """
    if address in _MAPPED:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def check_addresses(destination: Destination, addresses: Sequence[str]) -> list[IPAddress]:
    """
    The addresses a destination's name resolved to, each checked.

    Raises:
        UnsafeDestination: the name resolved to nothing, or any address is not public (one bad
            address is enough: a resolver may hand out either).
    """
    if destination.address is not None:
        found: list[IPAddress] = [destination.address]
    else:
        found = []
        for text in addresses:
            try:
                found.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                raise UnsafeDestination(f"resolves to an invalid address {text!r}") from None
    if not found:
        raise UnsafeDestination("does not resolve to any address")
    if destination.trusted:
        return found
    for address in found:
        reason = refusal(address)
        if reason is not None:
            subject = "is" if destination.address is not None else "resolves to"
            raise UnsafeDestination(f"{subject} {reason} ({address})")
    return found
