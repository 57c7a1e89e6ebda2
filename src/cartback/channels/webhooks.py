"""
Outbound webhooks over HTTP: the system's DNS resolver and an httpx transport that connects to
the address the SSRF check approved (never resolving the name again), sends the TLS server name
and checks the certificate against the real host, and never follows a redirect.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from datetime import timedelta

import httpx

from cartback.channels._lazy_http import LazyClient
from cartback.domain.webhooks import AttemptResult

#: Connecting, sending and waiting for the answer each have this long; receivers are told to
#: answer quickly and do their work afterwards.
DEFAULT_TIMEOUT = timedelta(seconds=10)


class SystemResolver:
    """
    `getaddrinfo`, every address of every family.
    """

    def resolve(self, host: str, port: int) -> list[str]:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return []
        addresses: list[str] = []
        for _family, _type, _proto, _name, sockaddr in found:
            address = str(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        return addresses


class HttpxWebhookTransport:
    """
    One httpx client for the process's webhook attempts.
    """

    def __init__(self, *, timeout: timedelta = DEFAULT_TIMEOUT) -> None:
        # trust_env=False: an HTTP(S)_PROXY in the environment must not carry the request
        # somewhere the address check never saw. No keep-alive: a pooled connection is keyed
        # by address, and must not carry another host's request under the first one's TLS name.
        self._client = LazyClient(
            lambda: httpx.Client(
                timeout=timeout.total_seconds(),
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        )

    def post(
        self,
        *,
        url: str,
        host_header: str,
        server_name: str | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> AttemptResult:
        extensions = {"sni_hostname": server_name} if server_name else {}
        try:
            with self._client.get().stream(
                "POST",
                url,
                content=body,
                headers={**headers, "host": host_header, "user-agent": "Cartback-Webhooks/1"},
                extensions=extensions,
            ) as response:
                # The body is never read: only the status and headers count.
                return _result(response)
        except httpx.TimeoutException:
            return AttemptResult(error="timed out")
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
            # ValueError: what h11 and the ssl module raise for a request they cannot make.
            return AttemptResult(error=f"request failed: {type(error).__name__}: {error}"[:500])

    def close(self) -> None:
        """
        Release the connections.
        """
        self._client.close()


def _result(response: httpx.Response) -> AttemptResult:
    code = response.status_code
    if 300 <= code < 400:
        location = response.headers.get("location", "")[:300]
        return AttemptResult(
            status_code=code, error=f"answered {code}; redirects are not followed ({location})"
        )
    return AttemptResult(status_code=code, retry_after=response.headers.get("retry-after"))
