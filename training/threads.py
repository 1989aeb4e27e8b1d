"""How many threads a command's torch, OpenMP and tokenizers use: the CPUs this process may run on, less those other
processes keep busy, never more.

Why: torch's CPU ops run on an OpenMP pool whose threads spin at each barrier until the slowest thread arrives. When
other processes share the CPUs, a pool thread is often descheduled mid-op and the others spin for its whole time
slice: on a 2-core machine under load 7-14, 20 teacher pre-training steps of the quickstart's model took 52-258 s
with torch's default 2 threads, and 13-22 s with 1 thread or with OpenMP's passive wait policy. So every command
starts through `configure_threads` (called once by `training.cli`), which
- counts the CPUs this process may use (its affinity mask and a cgroup CPU quota, not the machine's cores),
- subtracts the CPUs that other runnable processes occupy at that moment,
- sets torch's intra- and inter-op threads and the tokenizers' (Rust rayon) pool to what is left (at least 1;
  tokenizers parallelism is turned off with 1), and makes idle OpenMP threads sleep rather than spin.

A user's own `OMP_NUM_THREADS`, `TOKENIZERS_PARALLELISM`, `RAYON_NUM_THREADS` and `OMP_WAIT_POLICY` are kept as given.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"
PROC_STAT = Path("/proc/stat")
# Environment variables configure_threads set in this process, so that its next call (quickstart runs each step
# through it) does not mistake them for the user's.
_SET_HERE: dict[str, str] = {}


@dataclass
class ThreadPlan:
    usable_cpus: int  # CPUs this process may run on
    busy_cpus: int  # of those, how many other processes keep busy now
    threads: int  # torch threads (and the tokenizers' pool) this command uses
    user_set: bool  # OMP_NUM_THREADS was given: torch follows it, nothing here overrides it


def usable_cpus() -> int:
    """CPUs this process may use: its affinity mask (not the machine's cores), capped by a cgroup v2 CPU quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota (or not Linux): the affinity mask decides
    return max(1, cpus)


def other_runnable_processes(samples: int = 5, interval: float = 0.01) -> float:
    """Runnable tasks on the machine besides this process, from the kernel's instantaneous count (`procs_running` in
    /proc/stat; the median of a few samples, as it jumps). The 1-minute load average would also count this process's
    own previous step (quickstart runs its steps in one process), so it is not used. 0 where /proc is absent."""
    counts = []
    for index in range(samples):
        try:
            lines = PROC_STAT.read_text().splitlines()
        except OSError:
            return 0.0
        running = next((line.split()[1] for line in lines if line.startswith("procs_running")), None)
        if running is None:
            return 0.0
        counts.append(int(running) - 1)  # this process is running while it reads
        if index + 1 < samples:
            time.sleep(interval)
    return max(0.0, sorted(counts)[len(counts) // 2])


def plan_threads() -> ThreadPlan:
    """The thread count for this process now (see the module docstring), or the user's OMP_NUM_THREADS."""
    usable = usable_cpus()
    machine = os.cpu_count() or usable
    # Other processes are spread over the whole machine; the share of them on this process's CPUs keeps them busy.
    busy = min(usable, round(other_runnable_processes() * usable / machine))
    user_threads = _user_setting("OMP_NUM_THREADS").strip()
    if user_threads.isdigit() and int(user_threads) > 0:
        return ThreadPlan(usable, busy, int(user_threads), user_set=True)
    return ThreadPlan(usable, busy, max(1, usable - busy), user_set=False)


def _user_setting(name: str) -> str:
    """`name`'s value in the environment unless configure_threads put it there ("" when unset)."""
    value = os.environ.get(name, "")
    return "" if value == _SET_HERE.get(name) else value


def _set(name: str, value: str) -> None:
    os.environ[name] = _SET_HERE[name] = value


def configure_threads() -> ThreadPlan:
    """Apply `plan_threads()` to this process: torch (when loaded, or when it loads), OpenMP, tokenizers. Call before
    the command imports torch so the OpenMP settings apply; calling again later (quickstart's steps) re-plans torch's
    count for the load at that time. Silent: a command's output stays its own (its errors stay one line)."""
    plan = plan_threads()
    # Read when the OpenMP runtime loads (with torch): idle pool threads sleep instead of spinning on shared CPUs.
    if not _user_setting("OMP_WAIT_POLICY"):
        _set("OMP_WAIT_POLICY", "PASSIVE")
    if not _user_setting("TOKENIZERS_PARALLELISM") and not _user_setting("RAYON_NUM_THREADS"):
        os.environ.pop("TOKENIZERS_PARALLELISM", None)  # drop what an earlier call set
        os.environ.pop("RAYON_NUM_THREADS", None)
        if plan.threads == 1:
            _set("TOKENIZERS_PARALLELISM", "false")
        else:
            _set("RAYON_NUM_THREADS", str(plan.threads))  # read when the pool starts (first parallel encode)
    if plan.user_set:
        return plan  # torch reads OMP_NUM_THREADS itself when it loads
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # read by torch when it loads
        if name == "OMP_NUM_THREADS" or not _user_setting(name):
            _set(name, str(plan.threads))
    torch = sys.modules.get("torch")
    if torch is not None:  # already loaded (a caller in the same process): set its pools directly
        torch.set_num_threads(plan.threads)
    return plan
