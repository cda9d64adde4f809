"""Where callbacks may go: public addresses only, unless an operator allows a network.

A client chooses its webhook URL, and the service then POSTs to it from inside our
network. Without a check, a URL naming `127.0.0.1`, `10.0.0.5` or the cloud metadata
address `169.254.169.254` would make the workers call internal services on the client's
behalf (server-side request forgery). So a destination must be http(s) and every address
its host resolves to must be public, or lie in WEBHOOK_ALLOWED_NETWORKS (for example a
receiver on the same private network, or loopback on a developer's machine).

Multicast, reserved and unspecified addresses are refused like private ones. Redirects are
never followed (`webhooks.services`): a 3xx would send the worker to an address nobody
checked, so it fails the delivery instead.

Registration refuses what it can tell is internal (an IP literal, `localhost`, a name
that resolves to one); each delivery checks the resolution again just before sending, so
a name that later points inside is refused too.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

SCHEMES = ("http", "https")


class DestinationRefused(ValueError):
    """The URL must not be called; the message says why, in words for the client."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(text, strict=False) for text in settings.WEBHOOK_ALLOWED_NETWORKS]


def check_url(url: str, *, resolve_required: bool = True) -> None:
    """Raise DestinationRefused unless every address of the URL's host may be called.

    With `resolve_required=False` (registration) a name that does not resolve right now
    passes: the delivery checks again, and a receiver's DNS may not be live yet.
    """
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise DestinationRefused("must be an http or https URL")
    host = parts.hostname
    if not host:
        raise DestinationRefused("must name a host")
    for address in _addresses(host, resolve_required=resolve_required):
        # Python counts multicast (224.0.0.0/4, ff00::/8) as global; it is no receiver either.
        public = address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)
        if not public and not any(address in network for network in allowed_networks()):
            raise DestinationRefused(
                f"{host} is a private or reserved address ({address}); callbacks go to public addresses "
                "unless the operator allows the network in WEBHOOK_ALLOWED_NETWORKS"
            )


def _addresses(host: str, *, resolve_required: bool) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        if resolve_required:
            raise DestinationRefused(f"{host} does not resolve ({exc})") from exc
        if host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost"):
            return [ipaddress.ip_address("127.0.0.1")]
        return []
    # An IPv6 address with a zone ("fe80::1%eth0") has no global form: keep what is before %.
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
