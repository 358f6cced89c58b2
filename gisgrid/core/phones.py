"""A phone number as a key: the same number however it is written (staff are matched by phone).

``+86 138-0013-8000``, ``0086 13800138000``, ``8613800138000`` and ``138 0013 8000`` are one
number, ``13800138000``; a fixed line keeps its area code (``028-8512 3456`` → ``02885123456``).
:func:`phone_key_sql` computes the same key in PostgreSQL, for numbers already stored.
"""

from __future__ import annotations

import re
import unicodedata

_MOBILE_AFTER_86 = re.compile(r"^861\d{10}$")


def phone_key(value: str) -> str:
    """Digits only, the country code 86 dropped (after ``+`` or ``00``, or before an 11-digit mobile)."""
    text = unicodedata.normalize("NFKC", value).strip()
    digits = re.sub(r"\D", "", text)
    if digits.startswith("0086"):
        return digits[4:]
    if (text.startswith("+") and digits.startswith("86")) or _MOBILE_AFTER_86.match(digits):
        return digits[2:]
    return digits


def plausible_phone(key: str) -> bool:
    """A key of 7 to 12 digits: a local fixed line up to an area code and number, or a mobile."""
    return 7 <= len(key) <= 12


def phone_key_sql(column: str) -> str:
    """:func:`phone_key` of ``column`` in SQL."""
    text = f"btrim(normalize({column}, NFKC))"
    digits = f"regexp_replace({text}, '[^0-9]', '', 'g')"
    return (f"(CASE WHEN {digits} LIKE '0086%' THEN substr({digits}, 5) "
            f"WHEN ({text} LIKE '+%' AND {digits} LIKE '86%') OR {digits} ~ '^861[0-9]{{10}}$' "
            f"THEN substr({digits}, 3) ELSE {digits} END)")
