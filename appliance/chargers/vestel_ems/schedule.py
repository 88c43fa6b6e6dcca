"""When the link reads which status registers: groups at their own pace, one request at a time.

Reading all 16 status requests every 2 s kept a 9600-baud line a third busy and made a setpoint
wait behind six reads. Now what the car does is read every `quick_s` while it charges or just after
something changed and every `idle_s` otherwise; the other phases, the clock and the setpoint
read-back every `detail_s`; counters every `energy_s`; limits and the failsafe read-back every
`limits_s` and at once when a cable comes or goes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

from .registers import STATUS_GROUP_PLANS, STATUS_REGISTERS, ReadRun


@dataclass(frozen=True)
class StatusSchedule:
    quick_s: float = 5.0               # "state" while the car charges or just after a change
    idle_s: float = 8.0                # "state" otherwise: the core's staleness limit is 10 s
    detail_s: float = 15.0
    energy_s: float = 30.0
    limits_s: float = 120.0
    quick_after_change_s: float = 30.0  # how long a change (setpoint, cable, state) keeps it quick
    # Identity (up to 50 registers a request: 150 ms on a 9600-baud line) waits until the setpoint
    # has not changed for this long, so that it does not hold up the writes of a control loop at work.
    spare_after_quiet_s: float = 2.0

    def scaled(self, factor: float) -> StatusSchedule:
        """The same schedule, faster (tests over real sockets)."""
        return replace(self, **{k: v * factor for k, v in self.__dict__.items()})

    def period_s(self, group: str, quick: bool) -> float:
        if group == "state":
            return self.quick_s if quick else self.idle_s
        return {"detail": self.detail_s, "energy": self.energy_s, "limits": self.limits_s}[group]


@dataclass(frozen=True)
class PlannedRead:
    group: str           # a key of STATUS_GROUP_PLANS, or a spare group ("identity", "phase_switch")
    run: ReadRun
    last: bool           # the group is complete after this request


class StatusReads:
    """The queue of status requests and the values read so far (owned by the link's thread)."""

    def __init__(self, schedule: StatusSchedule):
        self.schedule = schedule
        self.values: dict[str, int | str] = {}
        self._due_at: dict[str, float] = dict.fromkeys(STATUS_GROUP_PLANS, 0.0)
        self._queue: deque[PlannedRead] = deque()
        self._spare: deque[PlannedRead] = deque()  # read when no status request is due

    def restart(self, now: float, spare: dict[str, tuple[ReadRun, ...]] | None = None) -> None:
        """After a (re)connect: every group, read afresh; `spare` groups (identity) when nothing else
        is due, because identity is for people and status is for control."""
        self._queue.clear()
        self.values = {}
        self._spare = deque(PlannedRead(group, run, i == len(runs) - 1)
                            for group, runs in (spare or {}).items() for i, run in enumerate(runs))
        self._due_at = dict.fromkeys(STATUS_GROUP_PLANS, now)

    def clear(self) -> None:
        self._queue.clear()
        self._spare.clear()

    def drop_group(self, group: str) -> None:
        """Forget the rest of a group's requests (the box refused one of them)."""
        self._queue = deque(p for p in self._queue if p.group != group)
        self._spare = deque(p for p in self._spare if p.group != group)

    def hurry(self, group: str, at: float) -> None:
        """Read `group` no later than `at`."""
        self._due_at[group] = min(self._due_at[group], at)

    def next(self, now: float, quick: bool, spare_from: float = float("-inf")) -> PlannedRead | None:
        """The next request, or None while nothing is due. Spare requests wait until `spare_from`."""
        if not self._queue:
            for group, plan in STATUS_GROUP_PLANS.items():
                if self._due_at[group] <= now:
                    self._due_at[group] = now + self.schedule.period_s(group, quick)
                    self._queue.extend(PlannedRead(group, run, i == len(plan) - 1) for i, run in enumerate(plan))
        if self._queue:
            return self._queue.popleft()
        return self._spare.popleft() if self._spare and now >= spare_from else None

    def next_due_at(self, spare_from: float = float("-inf")) -> float:
        if self._queue:
            return float("-inf")
        due = min(self._due_at.values())
        return min(due, spare_from) if self._spare else due

    def complete(self) -> bool:
        """Every status register has been read at least once since the last restart."""
        return all(name in self.values for name in STATUS_REGISTERS)
