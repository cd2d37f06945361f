"""Concurrency slots for action steps."""

from __future__ import annotations


class Slots:
    """Semaphores an action step holds while it runs (run-wide, per action, per skill)."""

    __slots__ = ("sems",)

    def __init__(self, sems):
        self.sems = sems

    async def acquire(self):
        taken = []
        try:
            for sem in self.sems:
                await sem.acquire()
                taken.append(sem)
        except BaseException:
            for sem in taken:
                sem.release()
            raise

    def release(self):
        for sem in self.sems:
            sem.release()


NO_SLOT = Slots([])
