"""Who is on the other end of a request that may have come through our own reverse proxy (nginx).

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the connection itself comes from a trusted
proxy: loopback (nginx on the same machine, as in `make run-prod`) or an address in HUIMIN_TRUSTED_PROXIES
(comma-separated addresses or networks, e.g. the compose/Kubernetes network). From anyone else they are
ignored, so a client cannot choose its own address (rate limits) or claim HTTPS (Secure cookies).
"""
from __future__ import annotations

import ipaddress
import os
from typing import Optional


def _networks():
    for part in os.environ.get("HUIMIN_TRUSTED_PROXIES", "").split(","):
        part = part.strip()
        if part:
            try:
                yield ipaddress.ip_network(part, strict=False)
            except ValueError:
                continue


def trusted_proxy(peer: Optional[str]) -> bool:
    try:
        address = ipaddress.ip_address((peer or "").strip())
    except ValueError:
        return False
    return address.is_loopback or any(address in net for net in _networks())


def client_address(peer: Optional[str], forwarded_for: Optional[str]) -> str:
    """The client's address: nginx appends the address it saw as the last X-Forwarded-For entry."""
    if forwarded_for and trusted_proxy(peer):
        last = forwarded_for.split(",")[-1].strip()
        if last:
            return last
    return peer or ""


def forwarded_https(peer: Optional[str], forwarded_proto: Optional[str]) -> bool:
    return bool(forwarded_proto) and trusted_proxy(peer) and \
        forwarded_proto.split(",")[0].strip().lower() == "https"
