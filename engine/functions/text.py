"""Text helpers for ``python`` steps."""

from __future__ import annotations

import re


def word_count(text: str) -> int:
    """Number of words in ``text``."""
    return len(re.findall(r"\w+", text or ""))


def upper(text: str) -> str:
    """``text`` in capitals."""
    return (text or "").upper()


def top_words(text: str, n: int = 5) -> list[dict]:
    """The ``n`` most frequent words with their counts."""
    counts: dict[str, int] = {}
    for word in re.findall(r"[a-z']+", (text or "").lower()):
        counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [{"word": w, "count": c} for w, c in ranked]
