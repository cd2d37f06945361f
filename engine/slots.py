"""Concurrency slots for action steps."""

from __future__ import annotations

import asyncio


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


class RunSlots:
    """One run's limits (``limits.concurrency``, ``limits.actions``) and those of the runs that
    called it, as the Slots each action step holds (cached per node). A skill's own
    ``concurrency`` is global, not the run's: the skill takes it (engine/throttle.py)."""

    def __init__(self, limits, outer: tuple = ()):
        self.slots = asyncio.Semaphore(limits.concurrency) if limits.concurrency else None
        self.action_slots = {name: asyncio.Semaphore(n) for name, n in limits.actions.items()}
        self.outer = outer  # ((slots, action_slots), ...) of the calling runs, outermost first
        self.by_node: dict = {}
        # no limit here nor in a calling run: every step's Slots are NO_SLOT (nothing to look up)
        self.unlimited = self.slots is None and not self.action_slots and \
            all(slots is None and not actions for slots, actions in outer)

    def chain(self) -> tuple:
        """What a sub-workflow started here gets as its ``outer``."""
        return self.outer + ((self.slots, self.action_slots),)

    def for_node(self, node) -> Slots:
        if self.unlimited:
            return NO_SLOT
        slot = self.by_node.get(node)
        if slot is None:
            uses = node.step.uses
            if uses == "workflow":  # a container: its steps take the slots (holding one, it would wait on itself)
                sems = [self.action_slots.get(uses)]
            else:  # this run's limits, then its callers' (outermost last: one order for every step)
                sems = [self.slots, self.action_slots.get(uses)]
                for slots, actions in reversed(self.outer):
                    sems += [slots, actions.get(uses)]
            sems = [s for s in sems if s is not None]
            slot = self.by_node[node] = Slots(sems) if sems else NO_SLOT
        return slot
