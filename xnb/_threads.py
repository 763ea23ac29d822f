"""How many threads PyTorch uses: one for the small shipped models, whatever ``os.cpu_count()`` says.

On Binder (and in most containers) the kernel runs under a cgroup CPU quota of 1–2 CPUs, while
``os.cpu_count()`` — and so PyTorch's default thread count — reports the host's cores (often 32 or more).
PyTorch then starts that many threads, which take turns on the one or two CPUs the quota allows: every
small convolution or matrix product waits on the slowest of them, and notebooks run slower.

:func:`set_num_threads` with ``"auto"`` reads the quota (cgroup v2 ``cpu.max``, cgroup v1
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``) and the CPU affinity, and sets one thread: measured on a
2-core machine, the notebooks' small models and batches ran slower with 2 threads than with 1
(see :data:`AUTO_MAX_THREADS`). Pass an int to choose yourself.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

#: the most threads ``set_num_threads("auto")`` sets, however many CPUs the quota allows. Measured on a
#: shared 2-core machine (``benchmarks/notebooks.py --threads N 03_mu_lasso``, full size): 36.7 s with 1
#: thread, 51.0 s with 2 (the shipped models' convolutions and batches are too small to split, and a second
#: thread waits on whatever else holds the other core), so "auto" sets 1.
AUTO_MAX_THREADS = 1

_CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_quota() -> float | None:
    """The CPU quota of this process's cgroup, in CPUs (e.g. 1.0, 2.5), or None when there is none.

    cgroup v2: ``/sys/fs/cgroup/cpu.max`` (``"max 100000"`` means no quota, ``"200000 100000"`` 2 CPUs);
    cgroup v1: ``cpu.cfs_quota_us`` (``-1``: no quota) over ``cpu.cfs_period_us``.
    """
    v2 = _read(_CGROUP / "cpu.max")
    if v2 is not None:
        parts = v2.split()
        if len(parts) >= 1 and parts[0] != "max":
            try:
                quota, period = int(parts[0]), int(parts[1]) if len(parts) > 1 else 100_000
            except ValueError:
                return None
            return quota / period if quota > 0 and period > 0 else None
        return None
    for base in (_CGROUP / "cpu", _CGROUP / "cpu,cpuacct", _CGROUP):
        q, p = _read(base / "cpu.cfs_quota_us"), _read(base / "cpu.cfs_period_us")
        if q is None or p is None:
            continue
        try:
            quota, period = int(q), int(p)
        except ValueError:
            return None
        return quota / period if quota > 0 and period > 0 else None
    return None


def available_cpus() -> int:
    """CPUs this process may actually use: the affinity mask, capped by the cgroup quota (rounded up)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def set_num_threads(n: int | str = "auto") -> int:
    """Set PyTorch's intra-op thread count and return it.

    ``n``: an int ≥ 1, or ``"auto"``: ``OMP_NUM_THREADS`` when that is set to an int ≥ 1 (the user's or
    the benchmark's explicit choice), otherwise the CPUs the cgroup quota and affinity allow
    (:func:`available_cpus`), at most :data:`AUTO_MAX_THREADS` (1: the shipped models are too small to gain
    from more threads, and on Binder extra threads only wait on each other). Anything else raises ValueError.
    """
    if isinstance(n, str):
        if n != "auto":
            raise ValueError(f"n must be an int >= 1 or 'auto', got {n!r}")
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        n = int(env) if env.isdigit() and int(env) >= 1 else min(available_cpus(), AUTO_MAX_THREADS)
    elif isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an int >= 1 or 'auto', got {n!r}")
    import torch

    torch.set_num_threads(int(n))
    return int(n)
