"""Secret redaction: every secret value inside data or text becomes ``***``.

Also the forms a value takes on its way through a workflow: JSON-escaped, once or twice (``\\"`` and
``\\u`` escapes, as inside a JSON body), URL-encoded (``quote``, ``quote(safe="")`` and
``quote_plus``), and base64 (standard and URL-safe). Base64 of a value inside longer data
(``Basic base64(user:secret)``) depends on where the value starts: each of the three
alignments has a run of characters that only the value's own bytes decide, and that run is
what is looked for (at least ``MIN_BASE64`` bytes of the value, so short values do not
blank out ordinary text).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

REDACTED = "***"
_B64 = "[A-Za-z0-9+/=_-]"


class Redactor:
    """Replaces every secret value inside data or text with ``***``."""

    MIN_LENGTH = 4  # shorter values would blank out ordinary text
    MIN_BASE64 = 6  # bytes of a value whose base64 is looked for inside longer base64

    def __init__(self, secrets: Mapping[str, str]):
        plain = {str(v) for v in secrets.values() if v and len(str(v)) >= self.MIN_LENGTH}
        forms = set(plain)
        packed = set()
        for value in plain:
            forms.update(encoded_forms(value))
            packed.update(base64_forms(value, self.MIN_BASE64))
        self.values = sorted(forms, key=len, reverse=True)
        # a base64 form takes the 4 characters either side along: they hold the value's edge bytes
        self.packed = re.compile("|".join(
            f"{_B64}{{0,4}}{re.escape(form)}{_B64}{{0,4}}" for form in sorted(packed, key=len, reverse=True)
        )) if packed else None
        self.hints = {form[:4] for form in packed}  # cheap test before the regex runs

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        if self.packed is not None and any(hint in text for hint in self.hints):
            text = self.packed.sub(REDACTED, text)
        return text

    def __call__(self, data):
        if not self.values:
            return data
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self(k) if isinstance(k, str) else k: self(v) for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self(v) for v in data]
        return data


def encoded_forms(value: str) -> set[str]:
    """The texts ``value`` is escaped as: JSON string content (once or twice), URL-encoded."""
    escaped = {json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms = escaped | {json.dumps(e, ensure_ascii=a)[1:-1] for e in escaped for a in (True, False)}  # twice
    forms |= {quote(value), quote(value, safe=""), quote_plus(value), quote_plus(value, safe="")}
    forms.discard(value)
    return forms


def base64_forms(value: str, min_bytes: int = 6) -> set[str]:
    """Base64 runs that only ``value``'s bytes decide, for each alignment (standard and URL-safe)."""
    forms = set()
    raw = value.encode("utf-8")
    for start in range(3):  # the value's bytes start at offset 0, 1 or 2 of a 3-byte group
        whole = raw[(3 - start) % 3:]
        whole = whole[:len(whole) - len(whole) % 3]
        if len(whole) >= min_bytes:
            encoded = base64.b64encode(whole).decode()
            forms.update({encoded, encoded.replace("+", "-").replace("/", "_")})
    return forms
