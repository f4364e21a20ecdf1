"""Run a plan's actions concurrently, within vCenter's limits, in tiers, after what they need.

vCenter queues provisioning operations per host (8 at a time by default: docs/recovery.md,
"Parallel recovery"), so more than that on one host only waits in vCenter's queue; overall, a
bound keeps the controller's threads and vCenter's sessions in check. The rules, in the order the
jobs are given (the plan's order):

- at most ``overall`` jobs run at once, and at most ``per_host`` with the same ``host``;
- a job of a later tier starts only once every job of the earlier tiers has started;
- a job that ``needs`` what an earlier job ``provides`` starts once that job is done, and is
  skipped (``skip``) if it did not succeed: its action is planned again by the next sweep;
- once ``stop`` is set no job starts; those running finish their current step (executor.py).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Job:
    name: str  # for the skip message and the threads' names
    tier: tuple[int, ...]
    host: str | None  # the host whose queue it occupies; None: no host's
    needs: frozenset[str] = frozenset()
    provides: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Limits:
    overall: int
    per_host: int


class _Schedule(Generic[R]):
    def __init__(self, jobs: Sequence[Job], limits: Limits, succeeded: Callable[[R], bool]) -> None:
        self.jobs, self.limits, self.succeeded = jobs, limits, succeeded
        self.waiting = list(range(len(jobs)))  # not started yet, in order
        self.results: dict[int, R] = {}
        self.on_host: Counter[str] = Counter()
        self.running = 0
        # Each job's providers: the earlier jobs that provide what it needs (plan order is the dependency order).
        by_need: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            for provided in job.provides:
                by_need.setdefault(provided, []).append(index)
        self.providers = {i: sorted({p for need in job.needs for p in by_need.get(need, ()) if p < i})
                          for i, job in enumerate(jobs)}

    def startable(self) -> list[int]:
        """The waiting jobs that may start now, in order; never past the first tier still waiting."""
        chosen: list[int] = []
        if not self.waiting:
            return chosen
        tier = self.jobs[self.waiting[0]].tier
        hosts = Counter(self.on_host)
        for index in self.waiting:
            job = self.jobs[index]
            if job.tier != tier or self.running + len(chosen) >= self.limits.overall:
                break
            if job.host is not None and hosts[job.host] >= self.limits.per_host:
                continue
            if not all(p in self.results for p in self.providers[index]):
                continue
            chosen.append(index)
            if job.host is not None:
                hosts[job.host] += 1
        return chosen

    def failed_provider(self, index: int) -> str | None:
        bad = [self.jobs[p].name for p in self.providers[index] if not self.succeeded(self.results[p])]
        return ", ".join(bad) or None

    def started(self, index: int) -> None:
        self.waiting.remove(index)
        self.running += 1
        if self.jobs[index].host is not None:
            self.on_host[self.jobs[index].host or ""] += 1

    def finished(self, index: int, result: R | None) -> None:
        """Job ``index`` ended (None: with an exception); its places are free again."""
        if result is not None:
            self.results[index] = result
        self.running -= 1
        if self.jobs[index].host is not None:
            self.on_host[self.jobs[index].host or ""] -= 1


def run_jobs(jobs: Sequence[Job], start: Callable[[int], Callable[[], R]], succeeded: Callable[[R], bool],
             skip: Callable[[int, str], R], limits: Limits, stop: threading.Event) -> list[R | None]:
    """Run every job by the module's rules; each job's result, in order (None for the jobs not
    started because of ``stop``). ``start(i)`` runs in the calling thread when job ``i`` starts, so
    what it does (the executor journals the intent) happens in the jobs' start order; the work it
    returns runs in a thread of its own. An exception (a defect) stops new starts and is raised
    once the jobs under way have ended."""
    schedule: _Schedule[R] = _Schedule(jobs, limits, succeeded)
    under_way: dict[Future[R], int] = {}
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, limits.overall), thread_name_prefix="recovery") as pool:
        while True:
            while not stop.is_set() and error is None and (ready := schedule.startable()):
                for index in ready:
                    schedule.started(index)
                    why = schedule.failed_provider(index)
                    if why is None:
                        try:
                            under_way[pool.submit(start(index))] = index
                        except BaseException as exc:  # re-raised below, once the others have ended
                            schedule.finished(index, None)
                            error = exc
                            break
                    else:
                        schedule.finished(index, skip(index, f"not started: {why} did not succeed"))
            if not under_way:
                break
            done, _ = wait(under_way, return_when=FIRST_COMPLETED)
            for future in done:
                index = under_way.pop(future)
                try:
                    schedule.finished(index, future.result())
                except BaseException as exc:  # re-raised below, once the others have ended
                    schedule.finished(index, None)
                    error = error or exc
    if error is not None:
        raise error
    return [schedule.results.get(i) for i in range(len(jobs))]
