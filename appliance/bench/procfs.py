"""What /proc says about one process: CPU time, resident memory, wakeups per thread, disk writes."""

from __future__ import annotations

from pathlib import Path

def _on_cpu_s(task: Path) -> float:
    # schedstat's first field is the time on the CPU in nanoseconds; /proc/.../stat counts 10 ms
    # clock ticks, too coarse for a service that is quiet for most of a 30 s window.
    return int((task / "schedstat").read_text().split()[0]) / 1e9


def cpu_s(pid: int) -> float:
    """CPU seconds so far of the whole process (all its live threads)."""
    return sum(cpu_per_thread(pid).values())


def cpu_per_thread(pid: int) -> dict[str, float]:
    """CPU seconds so far per thread (name/tid)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[f"{(task / 'comm').read_text().strip()}/{task.name}"] = _on_cpu_s(task)
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return out


def _status_value(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    return _status_value(Path(f"/proc/{pid}/status"), "VmRSS") / 1024


def rss_split(pid: int) -> str:
    """Where the resident memory is: the process's own (Python objects and code, thread stacks)
    and mapped files (the interpreter, C libraries, fonts), which another process may share."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) / 1024
    anonymous = values.get("Anonymous", 0.0)
    return f"{anonymous:.1f} MB own, {values.get('Rss', 0.0) - anonymous:.1f} MB mapped files"


def wakeups(pid: int) -> dict[str, int]:
    """Voluntary context switches so far per thread (name/tid): each is a sleep, so a wakeup of
    that thread. Involuntary ones are not counted: they are preemptions of a thread that was
    running anyway (by socat, the simulators or other jobs on the machine), not wakeups."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            status = task / "status"
            name = (task / "comm").read_text().strip()
            out[f"{name}/{task.name}"] = _status_value(status, "voluntary_ctxt_switches")
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return out


def written_bytes(pid: int) -> int:
    """Bytes the process caused to be written to storage (page-cache dirtying counts)."""
    return _status_value(Path(f"/proc/{pid}/io"), "write_bytes")


def wakeups_per_s(before: dict[str, int], after: dict[str, int], seconds: float) -> tuple[float, dict[str, float]]:
    per_thread = {k: (after[k] - before.get(k, 0)) / seconds for k in after}
    return sum(per_thread.values()), per_thread
