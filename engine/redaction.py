"""Secret redaction: every secret value inside data or text becomes ``***``."""

from __future__ import annotations

from collections.abc import Mapping

REDACTED = "***"


class Redactor:
    """Replaces every secret value inside data or text with ``***``."""

    MIN_LENGTH = 4  # shorter values would blank out ordinary text

    def __init__(self, secrets: Mapping[str, str]):
        self.values = sorted({str(v) for v in secrets.values() if v and len(str(v)) >= self.MIN_LENGTH},
                             key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
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
