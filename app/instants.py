"""Instants and durations: int64 nanoseconds since the epoch, UTC, and their ISO-8601 text."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

SECOND = 1_000_000_000  # ns


def format_instant(ns: int) -> str:
    """ISO-8601 in UTC with a ``Z``, with only as many fraction digits as it needs."""
    text = pd.Timestamp(ns, unit="ns", tz="UTC").isoformat().replace("+00:00", "")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "Z"


def format_instants(ns: np.ndarray) -> list[str]:
    """``format_instant`` for many instants (int64 ns) at once, one precision for all."""
    values = np.asarray(ns, dtype=np.int64)
    unit = next((u for u, step in (("s", SECOND), ("ms", 10**6), ("us", 10**3))
                 if not np.any(values % step)), "ns")
    stamps: npt.NDArray[np.datetime64] = values.astype("datetime64[ns]")
    text = np.datetime_as_string(stamps, unit=unit)  # type: ignore[call-overload]
    return [t + "Z" for t in text.tolist()]


def parse_instant(text: str) -> int:
    """An ISO-8601 instant as int64 ns since the epoch (naive means UTC).

    Raises ``ValueError`` saying what is accepted for anything else, including
    instants that int64 nanoseconds cannot hold (before 1678 or after 2261).
    """
    try:
        stamp = pd.Timestamp(text.strip())
        if pd.isna(stamp) or not any(ch.isdigit() for ch in text):
            raise ValueError(text)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return int(stamp.as_unit("ns").value)
    except (ValueError, TypeError, OverflowError):  # OutOfBoundsDatetime is a ValueError
        raise ValueError(f"{text!r} is not an ISO-8601 instant between the years 1678 "
                         "and 2261 (for example 2024-05-01T12:00:00Z)") from None
