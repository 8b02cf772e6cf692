"""The schema's time columns of a frame -> one instant per row (int64 UTC ns): dates,
with their time-of-day column, made UTC by a zone column or the header's zone, or epoch
numbers; why each row has none, in the sentences a reading's warnings give."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..instants import END_INSTANT, FIRST_INSTANT
from . import timestamps, zones
from .frame import stripped_text
from .lines import LineOf
from .schema import NAT, ReadingChanged, Schema, SchemaError
from .timestamps import EMPTY, OK, OTHER_ORDER, OTHER_UNIT, OUT_OF_RANGE


def read_times(frame: pd.DataFrame, position: dict[str, int], schema: Schema,
               inferred: bool, date_order: str, line_of: LineOf, found: list[str]
               ) -> tuple[np.ndarray, timestamps.Instants, set[str]]:
    """Every row's instant (int64 UTC ns, NAT where none), how they were read (reasons per
    row), and what was assumed ("date_order", "decimal" kept from a pinned schema).

    ``position`` maps column names to the frame's positions; sentences for the warnings
    are appended to ``found``. ``SchemaError`` for a numeric column of no epoch unit or an
    ambiguous zone; ``ReadingChanged`` when appended lines contradict a pinned ``schema``.
    """
    column = frame[position[schema.timestamp]]
    # The ISO-8601 parser reads most cells unstripped (stripping 1M cells cost 0.25 s);
    # the cells it refuses are stripped and read again.
    text = column if str(column.dtype) == "Int64" else column.astype("str")
    pinned_assumed = not inferred and "date_order" in schema.assumed
    # a pinned schema keeps what it assumed; a fresh reading says again what it assumes
    assumed = set(schema.assumed) - ({"date_order", "decimal"} if inferred else set())
    if schema.numeric_time:
        text = text if str(text.dtype) == "Int64" else stripped_text(text)
        unit = schema.epoch_unit or timestamps.epoch_unit(text)
        if not unit:
            raise _epoch_refusal(schema.timestamp, text, line_of)
        times = timestamps.read_epochs(text, unit)
        other = times.reason == OTHER_UNIT
        if not inferred and other.any() and any(timestamps.epoch_counts(
                timestamps.epoch_floats(text[other]))):
            # appended numbers of another unit: the whole file decides (a mix is refused)
            raise ReadingChanged(f"new lines in {schema.timestamp!r} are of another unit")
    else:
        times = timestamps.read_dates(text, schema.time_format or "ISO8601", schema.timestamp,
                                      line_of, date_order, pinned_assumed)
        if schema.time_of_day:
            clock = stripped_text(frame[position[schema.time_of_day]])
            of_day, clock_ok = timestamps.read_times_of_day(clock, schema.time_of_day, line_of)
            dated = times.reason == OK
            ns = times.ns + np.where(dated & clock_ok, of_day, 0)
            inside = (ns >= FIRST_INSTANT) & (ns < END_INSTANT)
            reason = np.where(~dated, times.reason,
                              np.where(clock.isna().to_numpy(), EMPTY,
                                       np.where(~clock_ok, timestamps.UNREADABLE,
                                                np.where(inside, OK, OUT_OF_RANGE))))
            times = replace(times, ns=np.where(reason == OK, ns, NAT),
                            reason=reason.astype(np.int8))
        if schema.zone_column or schema.time_zone:
            times = _localize(frame, position, schema, times, line_of, inferred, found)
    if times.assumed:
        assumed.add("date_order")
    found.extend(times.notes)
    return times.ns, times, assumed


def _localize(frame: pd.DataFrame, position: dict[str, int], schema: Schema,
              times: timestamps.Instants, line_of: LineOf, inferred: bool, found: list[str]
              ) -> timestamps.Instants:
    """Naive instants made UTC by the zone each row's zone column names, or the zone the
    timestamp column's name gives."""
    zone = schema.zone_column or schema.timestamp
    tokens = stripped_text(frame[position[zone]]) if schema.zone_column else \
        pd.Series(schema.time_zone, index=frame.index, dtype="str")
    naive = np.where(times.reason == OK, times.ns, NAT)
    ns, no_zone, gap, used = zones.localize(naive, tokens, zone, line_of,
                                            zone.strip().lower() in zones.OFFSET_COLUMNS)
    inside = (ns >= FIRST_INSTANT) & (ns < END_INSTANT)
    reason = np.where(times.reason != OK, times.reason,
                      np.where(no_zone, timestamps.NO_ZONE,
                               np.where(gap, timestamps.LOCAL_GAP,
                                        np.where(inside, OK, OUT_OF_RANGE)))).astype(np.int8)
    both = f"{schema.timestamp!r}" + (f" and {schema.time_of_day!r}"
                                      if schema.time_of_day else "")
    if inferred and used and schema.zone_column:
        found.append(f"times in {both} are local to the zone each row's {zone!r} names "
                     f"({', '.join(used)}), and were converted to UTC")
    elif inferred and zones.zone_of(schema.time_zone) != 0:
        found.append(f"times in {both} are local to {used[0]}, as the header says, and were "
                     "converted to UTC")
    return replace(times, ns=np.where(reason == OK, ns, NAT), reason=reason)


def reasons(schema: Schema, times: timestamps.Instants) -> dict[int, str]:
    """What each reason code of ``timestamps`` means for this file's timestamp column, as
    the warnings say it after "N rows skipped: "."""
    both = f"{schema.timestamp!r}" + (f" and {schema.time_of_day!r}" if schema.time_of_day
                                      else "")
    order = timestamps.OPEN.get(times.time_format, ("", ""))[1]
    other = "MDY" if order == "DMY" else "DMY"
    return {
        EMPTY: "no timestamp",
        timestamps.UNREADABLE: f"the timestamp is not written like the rest of {both}",
        OUT_OF_RANGE: "the timestamp is outside the years 1678 to 2261",
        OTHER_UNIT: f"the number is not "
                    f"{timestamps.UNIT_NAMES.get(times.epoch_unit, '')} since 1970 like the "
                    f"rest of {schema.timestamp!r}",
        OTHER_ORDER: f"the date is {timestamps.DESCRIBED.get(other, '')}, unlike the rest of "
                     f"{schema.timestamp!r} ({timestamps.DESCRIBED.get(order, '')})",
        timestamps.NO_ZONE: f"no time zone in {schema.zone_column!r}",
        timestamps.LOCAL_GAP: "a daylight-saving change skips or repeats this local time in "
                              f"its zone ({schema.zone_column or schema.time_zone!r})"}


def _epoch_refusal(column: str, values: pd.Series, line_of: LineOf) -> SchemaError:
    """Why a numeric time column has no epoch unit, naming what to change."""
    floats = timestamps.epoch_floats(values)
    size = np.abs(floats)
    fits = [(unit, (size >= low) & (size < high))
            for unit, _, low, high in timestamps.EPOCH_UNITS]
    seen = [(unit, int(np.argmax(rows))) for unit, rows in fits if rows.any()]
    if len(seen) > 1:
        (one, at), (other, at2) = seen[0], seen[1]
        return SchemaError(
            f"column {column!r} mixes epoch {timestamps.UNIT_NAMES[one]} "
            f"({values.iloc[at]}, line {line_of(at)}) and {timestamps.UNIT_NAMES[other]} "
            f"({values.iloc[at2]}, line {line_of(at2)}): write one unit throughout")
    finite = np.isfinite(floats)
    serial = finite & (size >= 10_000) & (size < 100_000)  # 1927-05-18 .. 2173-10-14
    if finite.any() and serial.sum() * 2 > finite.sum():
        at = int(np.argmax(serial))
        day = pd.Timestamp("1899-12-30") + pd.Timedelta(days=float(floats[at]))
        return SchemaError(
            f"column {column!r} holds spreadsheet serial dates ({values.iloc[at]} on line "
            f"{line_of(at)} is {day.isoformat()} as Excel counts days): format the column as "
            "dates in the spreadsheet before saving (2024-05-01 12:00:00)")
    example = values.dropna().iloc[0] if values.notna().any() else ""
    return SchemaError(
        f"column {column!r} holds numbers ({example}) that are no epoch time this reader "
        "knows: write dates such as 2024-05-01T12:00:00Z, or seconds, milliseconds, "
        "microseconds or nanoseconds since 1970-01-01 (1973 and later)")
