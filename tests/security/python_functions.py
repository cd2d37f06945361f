"""What the security tests' ``python`` steps call, and the objects a hostile name may point at.

Allowed in these tests as ``tests.security.python_functions:*``: every name below passes the
allowlist's patterns, so only the other rules (plain functions, their home module) refuse.
"""

from __future__ import annotations

import functools
import os
import time
from os import getcwd  # noqa: F401 - a builtin, re-exported
from shutil import rmtree  # noqa: F401 - a plain function from a module the allowlist does not name

from engine.functions.text import upper  # noqa: F401 - a re-export from an allowed module: fine

len = len  # noqa: A001 - a builtin under a public name


class Thing:
    def method(self):
        return 1

    def __call__(self):
        return 2


thing = Thing()  # a callable object
bound = thing.method  # a bound method
half = functools.partial(int, base=2)
data = {"a": 1}


def spin(pid_file: str) -> None:
    """Runaway CPU-bound code: says where it runs, then never returns."""
    with open(pid_file, "w") as handle:
        handle.write(str(os.getpid()))
    n = 0
    while True:
        n += 1


def pid() -> int:
    return os.getpid()


def count_to(n: int) -> int:
    """A CPU-bound call that ends."""
    total = 0
    for i in range(int(n)):
        total += i
    return total


def crash(code: int = 3) -> None:
    """The worker process dies under the call."""
    os._exit(code)


def fails(message: str):
    raise ValueError(message)


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickle cannot rebuild it from its args
        super().__init__(f"{a}/{b}")


def fails_oddly():
    raise Unpicklable("left", "right")


def exits():
    raise SystemExit("leaving")


def not_json():
    return {1, 2}


def sleep(seconds: float, value=None):
    time.sleep(seconds)
    return value


async def later(value):
    return value
