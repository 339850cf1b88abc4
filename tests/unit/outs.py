"""What unit tests read of the messages an order book sends (``Out``)."""

from __future__ import annotations

from gateway.orders import Out


def fields(out: Out) -> dict[int, bytes]:
    """The body's tags and values, the first occurrence of each."""
    d: dict[int, bytes] = {}
    for part in out.body.split(b"\x01")[:-1]:
        tag, _, value = part.partition(b"=")
        d.setdefault(int(tag), value)
    return d
