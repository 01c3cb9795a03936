"""Vectorised formatting of microsecond timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC).

Formatting is the generator's hottest path; numpy does it ~5x faster than datetime.isoformat.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

NULL_TS = np.iinfo(np.int64).min  # marks a NULL timestamp in an int64 column
_TEMPLATE = np.frombuffer(b"0000-00-00 00:00:00.000000", dtype=np.uint8)
_DAY = 86_400_000_000


def _civil(days: npt.NDArray[np.int64]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) from days since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def format_many(values: npt.ArrayLike) -> list[str]:
    """Format non-null int64 microsecond timestamps (years 0000-9999)."""
    us = np.asarray(values, dtype=np.int64)
    if us.size == 0:
        return []
    days, rem = np.divmod(us, _DAY)
    year, month, day = _civil(days)
    out = np.empty((us.size, 26), dtype=np.uint8)
    out[:] = _TEMPLATE
    hour, rem = np.divmod(rem, 3_600_000_000)
    minute, rem = np.divmod(rem, 60_000_000)
    second, micro = np.divmod(rem, 1_000_000)
    for column, width, value in ((0, 4, year), (5, 2, month), (8, 2, day), (11, 2, hour),
                                 (14, 2, minute), (17, 2, second), (20, 6, micro)):
        for offset in range(width - 1, -1, -1):
            value, digit = np.divmod(value, 10)
            out[:, column + offset] = digit + 48
    return out.view("S26").ravel().astype("U26").tolist()


def format_nullable(values: npt.NDArray[np.int64]) -> list[str | None]:
    """Like format_many, with NULL_TS as None."""
    present = values != NULL_TS
    if present.all():
        return list(format_many(values))
    result = np.full(values.size, None, dtype=object)
    index = np.flatnonzero(present)
    if index.size:
        result[index] = format_many(values[index])
    return result.tolist()
