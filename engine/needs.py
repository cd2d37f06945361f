"""The ``needs`` graph of one list of steps: its cycles, and sets of its steps kept small.

Workflows are hostile input: a list can hold 20 000 steps and a 20 000-long chain of
``needs``, so nothing here recurses, and nothing keeps a set of ids per step (that was
quadratic: 10 000 steps took 2.4 GB).

A set of step numbers in one list is ``(prefix, extra)``: every number below ``prefix``, and
``prefix + k`` for each bit k of the integer ``extra`` (bit 0 always clear). The steps certain
to have finished before a step of a sequence or of a chain of needs are all of the steps
before it, so such a set costs O(1); a DAG's sets cost a bitmask over its irregular part.
"""

from __future__ import annotations

NONE = (0, 0)


def _normal(prefix: int, extra: int) -> tuple[int, int]:
    ones = (extra ^ (extra + 1)).bit_length() - 1  # trailing one bits of extra
    return prefix + ones, extra >> ones


def union(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """Every step in ``a`` or ``b``."""
    if a[0] < b[0]:
        a, b = b, a
    return _normal(a[0], a[1] | (b[1] >> (a[0] - b[0])))


def adding(a: tuple[int, int], i: int) -> tuple[int, int]:
    """``a`` with step ``i``."""
    return a if i < a[0] else _normal(a[0], a[1] | (1 << (i - a[0])))


def has(a: tuple[int, int], i: int) -> bool:
    """Is step ``i`` in ``a``?"""
    return i < a[0] or bool(a[1] >> (i - a[0]) & 1)


def members(a: tuple[int, int]):
    """The steps in ``a``, lowest first."""
    yield from range(a[0])
    bits = bin(a[1])[:1:-1]  # lowest bit first
    i = bits.find("1")
    while i >= 0:
        yield a[0] + i
        i = bits.find("1", i + 1)


def find_cycles(steps: list, index: dict) -> list[list[int]]:
    """Each strongly connected set of two or more steps of one list (a ``needs`` cycle), as indices.

    Iterative Tarjan: a 20 000-long chain of needs must not exhaust the interpreter's stack.
    """
    graph = [[index[n] for n in (s.needs or []) if n in index] for s in steps]
    order = [0] * len(steps)  # 0: not seen; else its discovery number
    low = [0] * len(steps)
    on_stack = [False] * len(steps)
    stack: list[int] = []
    found: list[list[int]] = []
    counter = 0
    for root in range(len(steps)):
        if order[root]:
            continue
        work = [(root, 0)]
        while work:
            node, edge = work.pop()
            if edge == 0:
                counter += 1
                order[node] = low[node] = counter
                stack.append(node)
                on_stack[node] = True
            if edge < len(graph[node]):
                work.append((node, edge + 1))
                nxt = graph[node][edge]
                if not order[nxt]:
                    work.append((nxt, 0))
                elif on_stack[nxt]:
                    low[node] = min(low[node], order[nxt])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == order[node]:
                ring = []
                while True:
                    top = stack.pop()
                    on_stack[top] = False
                    ring.append(top)
                    if top == node:
                        break
                if len(ring) > 1:  # a step needing itself is reported as such, not as a cycle
                    found.append(sorted(ring))
    return found


def cycle_path(steps: list, index: dict, ring: list[int]) -> list[int]:
    """A shortest cycle through the first step of ``ring`` (breadth first, inside the ring)."""
    inside = set(ring)
    start = ring[0]
    came_from = {start: None}
    queue = [start]
    for node in queue:
        for need in steps[node].needs or []:
            nxt = index.get(need)
            if nxt == node:
                continue  # needing itself: reported on its own
            if nxt == start:
                path = [node]
                while came_from[path[-1]] is not None:
                    path.append(came_from[path[-1]])
                return [start] + path[::-1][1:] + [start]
            if nxt in inside and nxt not in came_from:
                came_from[nxt] = node
                queue.append(nxt)
    return ring + [start]
