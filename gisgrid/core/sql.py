"""The one guard for names written into SQL text: tables and columns cannot be bound parameters,
so every identifier interpolated into a query is checked here against the names its caller
knows — a name from a file, a request or a layer definition never reaches the text unchecked."""

from __future__ import annotations

import re
from collections.abc import Collection

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def identifier(name: str, known: Collection[str]) -> str:
    """``name`` if it is a plain lower-case SQL name among ``known``; otherwise a ValueError (a
    programming error, never a user's: callers pass names from their own constants)."""
    if name not in known or not IDENTIFIER.match(name):
        raise ValueError(f"not a known SQL name here: {name!r} (known: {', '.join(sorted(known))})")
    return name
