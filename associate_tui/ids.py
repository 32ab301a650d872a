"""Record ids made on the terminal (their times are the contract's: schemas/times.py)."""

from __future__ import annotations

import os
import threading
import time
import uuid

from schemas.times import format_utc, utc_now

__all__ = ["format_utc", "utc_now", "uuid7"]

_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, 12-bit counter) of the previous id


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, a counter, random bits.

    Time-ordered ids keep inserts at the end of the index and let HQ see roughly
    when a record was made. Within one millisecond the 12-bit rand_a field is a
    counter (RFC 9562, method 3), so ids made by this process stay in order.
    """
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, counter = _last
        if millis <= last_millis:
            millis, counter = last_millis, counter + 1
            if counter > 0xFFF:
                millis, counter = millis + 1, 0
        else:
            counter = int.from_bytes(os.urandom(1), "big")  # random start, room to count up
        _last = (millis, counter)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= counter << 64  # rand_a as a counter
    value |= 0b10 << 62  # RFC 4122 variant
    value |= int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)  # rand_b
    return str(uuid.UUID(int=value))
