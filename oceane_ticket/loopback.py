"""The loopback check: whether an address only reaches (or comes from) this machine.

One definition for every listener and peer check (Flower's bind address, the sandbox's, the intake's
peer, the sandbox hub's callbacks), so that they cannot disagree on what "local" means.
"""

from __future__ import annotations

import ipaddress


def is_loopback(address: str) -> bool:
    """Whether ``address`` (an IP, ``[v6]``, or ``localhost``) is this machine's loopback.

    An empty address means every interface; a host name other than ``localhost`` may resolve
    anywhere, so it counts as remote.
    """
    host = address.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
