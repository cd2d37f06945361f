"""Date functions of expressions: ``now()`` and ``format_date(iso, format)``.

Dates are ISO 8601 text. ``format_date`` reads at most MAX_DATE_TEXT characters of date and
MAX_DATE_FORMAT of format, and the format may only use the portable ``%`` directives listed
in FORMAT_DIRECTIVES: no widths, flags or platform extensions (``%1000000Y`` would have the C
library pad a year to a million characters), so its result is at most a few kilobytes.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .errors import ExpressionError
from .expr_args import TEXT, short, want
from .expr_limits import MAX_DATE_FORMAT, MAX_DATE_TEXT, Budget

#: the ``%`` directives format_date accepts (those of the C standard, and Python's ``%f``)
FORMAT_DIRECTIVES = "aAbBcdfGHIjmMpSuUVwWxXyYzZ%"


def now(budget: Budget):
    """The current time in UTC as ISO 8601 text, to the millisecond: ``2025-03-04T05:06:07.890Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_date(budget: Budget, value, fmt):
    """The ISO 8601 date or time ``value`` written with a strftime ``fmt`` (``%Y-%m-%d``).

    A time without an offset is taken as UTC; one with an offset is written in that offset.
    """
    want("format_date", value, TEXT, "date")
    want("format_date", fmt, TEXT, "format")
    if len(value) > MAX_DATE_TEXT:
        raise ExpressionError(f"format_date() takes a date of at most {MAX_DATE_TEXT} characters, "
                              f"got {len(value):,}")
    if len(fmt) > MAX_DATE_FORMAT:
        raise ExpressionError(f"format_date() takes a format of at most {MAX_DATE_FORMAT} characters, "
                              f"got {len(fmt):,}")
    _check_format(fmt)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ExpressionError(f"format_date(): '{short(value)}' is not an ISO 8601 date or time "
                              f"(such as 2025-03-04 or 2025-03-04T05:06:07Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.strftime(fmt)
    except (ValueError, UnicodeError):
        raise ExpressionError("format_date(): the format holds characters that cannot be written") from None


def _check_format(fmt: str) -> None:
    i = fmt.find("%")
    while i >= 0:
        directive = fmt[i + 1:i + 2]
        if not directive or directive not in FORMAT_DIRECTIVES:
            raise ExpressionError(f"format_date(): '%{directive}' is not a supported directive "
                                  f"(use %{' %'.join(FORMAT_DIRECTIVES[:-1])} or %%)")
        i = fmt.find("%", i + 2)
