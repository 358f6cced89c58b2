"""Citizen ID numbers (GB 11643-1999) and phone numbers as a 台帐 writes them.

An ID number is 6 digits of region, 8 of birth date, 3 of sequence (odd: male) and a mod-11
check character (0-9 or X). A 15-digit number of the old kind (issued before 1999: 2-digit year,
no check character) is converted to its 18-digit form, the way the public-security registry did
it, so the person keeps one key; the caller says so in its warnings. Phones are a mobile number
(1[3-9] and 9 digits, with spaces, dashes or +86 allowed) or a fixed line with its area code,
stored as digits only so one number has one blind index.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date


class BadValue(ValueError):
    """A value that cannot be stored; ``reason`` is 'Chinese / English'."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# the province part of GB/T 2260 region codes (71 Taiwan, 81 Hong Kong, 82 Macao)
_PROVINCES = frozenset("11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 "
                       "61 62 63 64 65 71 81 82".split())
_SEPARATORS = re.compile(r"[\s\-－—()（）]+")


@dataclass(frozen=True)
class IdNumber:
    value: str        # 18 characters, X upper case
    sex: str          # 'M' | 'F'
    birth_year: int
    converted: bool   # it was a 15-digit number


def check_character(body17: str) -> str:
    return _CHECK[sum(w * int(c) for w, c in zip(_WEIGHTS, body17, strict=True)) % 11]


def parse_id_number(raw: str, today: date) -> IdNumber:
    """The ID number in its 18-character form, or :class:`BadValue` saying what is wrong."""
    text = "".join(unicodedata.normalize("NFKC", raw).split()).upper()
    converted = False
    if len(text) == 15 and text.isdigit():
        text = text[:6] + "19" + text[6:]
        text += check_character(text)
        converted = True
    if len(text) != 18:
        raise BadValue(f"应为 18 位（现为 {len(text)} 位） / must have 18 characters, not {len(text)}")
    if not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        raise BadValue("只能是数字，末位可为 X / only digits, the last may be X")
    if text[:2] not in _PROVINCES:
        raise BadValue(f"地区码 {text[:6]} 无效（省级代码 {text[:2]} 不存在） / region code {text[:6]} is not valid: "
                       f"no province {text[:2]} in GB/T 2260")
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise BadValue(f"出生日期 {text[6:14]} 不存在 / birth date {text[6:14]} does not exist") from None
    if born > today or born.year < 1900:
        raise BadValue(f"出生日期 {text[6:14]} 不可能（应在 1900 年至今之间） / birth date {text[6:14]} is impossible "
                       "(before 1900 or in the future)")
    expected = check_character(text[:17])
    if text[17] != expected:
        raise BadValue(f"校验位错误（应为 {expected}） / wrong check digit: {text[17]}, expected {expected}")
    return IdNumber(text, "M" if int(text[16]) % 2 else "F", born.year, converted)


_MOBILE = re.compile(r"1[3-9]\d{9}")
# 0 + a 2- or 3-digit area code, then a 7- or 8-digit local number that does not start with 0 or 1
_FIXED = re.compile(r"0\d{2,3}[2-9]\d{6,7}")


def parse_phone(raw: str) -> str:
    """A mobile or fixed-line number as digits only (+86 dropped), or :class:`BadValue`."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if _MOBILE.fullmatch(text) or _FIXED.fullmatch(text):
        return text
    # the value itself stays out of the message: a report must not carry personal data
    raise BadValue("不是手机号或带区号的固定电话 / is neither a mobile number (1[3-9] + 9 digits) "
                   "nor a fixed line with its area code (e.g. 010-12345678)")
