"""Functions the example workflows call through ``python`` steps (allowlisted as examples.functions.*)."""

from __future__ import annotations

import asyncio
import re
import time


def analyze(text: str) -> dict:
    """Word, sentence and character counts of a text."""
    words = re.findall(r"[A-Za-z']+", text)
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    time.sleep(0.2)  # a CPU-ish task: runs in a worker process, never blocks the loop
    return {"words": len(words), "sentences": len(sentences), "characters": len(text)}


def visualize(text: str, width: int = 20) -> list[str]:
    """A text histogram of word lengths, one bar per length."""
    lengths: dict[int, int] = {}
    for word in re.findall(r"[A-Za-z']+", text):
        lengths[len(word)] = lengths.get(len(word), 0) + 1
    top = max(lengths.values(), default=1)
    time.sleep(0.2)
    return [f"{n:>2} {'#' * max(1, round(c / top * width))} {c}" for n, c in sorted(lengths.items())]


async def summarize(text: str, sentences: int = 1) -> str:
    """The first sentences of a text (an async function: awaited on the loop)."""
    await asyncio.sleep(0.2)
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]
    return " ".join(parts[:sentences])


async def process_record(record: dict) -> dict:
    """One item of a batch: normalise a record and score it."""
    await asyncio.sleep(0.05)
    name = str(record.get("name", "")).strip().title()
    return {"name": name, "score": len(name) * int(record.get("weight", 1))}


async def query_source(name: str, delay: float = 0.1, fail: bool = False) -> dict:
    """A data source that answers after ``delay`` seconds, or fails."""
    await asyncio.sleep(delay)
    if fail:
        raise ConnectionError(f"source {name} is unreachable")
    return {"source": name, "price": round(100 + len(name) * 1.5, 2)}


def average(values: list, key: str) -> float:
    """Mean of ``key`` over the mappings in ``values`` that are not null."""
    present = [v[key] for v in values if isinstance(v, dict) and key in v]
    return round(sum(present) / len(present), 2) if present else 0.0


def numbered_urls(prefix: str, count: int) -> list[str]:
    """``prefix/0`` … ``prefix/count-1``."""
    return [f"{prefix}/{i}" for i in range(int(count))]


def count_primes(limit: int) -> int:
    """How many primes are below ``limit``, by trial division: CPU-bound on purpose (it runs in a
    worker process, so parallel branches of it use every core; bench/engine.py times that)."""
    count = 0
    for n in range(2, int(limit)):
        i = 2
        while i * i <= n:
            if n % i == 0:
                break
            i += 1
        else:
            count += 1
    return count
