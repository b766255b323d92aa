"""One thread setting per process: PyTorch's intra-op pool, the BLAS / OpenMP pools (NumPy, scikit-learn's gradient
boosting) and the child processes' environment, all set once from `--threads`.

Left alone, each library sizes its pool to every core of the host, so two runs on one machine oversubscribe it (a
tabular teacher labelled 350x slower beside another run). The default is the cores this process may use: its CPU
affinity and the container's CPU quota, not the host's core count.

>>> apply_threads(4)  # doctest: +SKIP
{'threads': 4, 'source': '--threads', 'torch': 4, 'blas_pools': {'openblas': 4, 'openmp': 4}}
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

CPU_QUOTA = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")

_applied: dict[str, Any] = {}
_limits: Any = None  # threadpoolctl's handle: the BLAS / OpenMP limits hold while it lives


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by a cgroup CPU quota when one is set."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = CPU_QUOTA.read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def apply_threads(threads: int | None = None) -> dict[str, Any]:
    """Set every thread pool of this process to `threads` (default: `usable_cores()`); returns what was set, for the
    manifest. Called again with the same value it changes nothing."""
    global _limits
    count = threads or usable_cores()
    if _applied.get("threads") == count:
        return dict(_applied)
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    for name in THREAD_VARIABLES:  # what worker and child processes read when they start
        os.environ[name] = str(count)
    torch.set_num_threads(count)
    _limits = threadpool_limits(limits=count)
    pools = {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}
    _applied.clear()
    _applied.update(
        {
            "threads": count,
            "source": "--threads" if threads else "usable cores",
            "torch": torch.get_num_threads(),
            "blas_pools": pools,
        }
    )
    return dict(_applied)
