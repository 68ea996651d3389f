"""What a task uses: wall seconds, CPU seconds and peak memory of its process, measured without the metadata
database. :class:`~mlops_provider.operators.base.MlopsBaseOperator` starts the meter before ``execute`` and
pushes the reading as the XCom ``mlops_resources`` after it; the cost report sums them. Stdlib only."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Meter:
    wall: float
    cpu: float

    @classmethod
    def start(cls) -> Meter:
        return cls(wall=time.monotonic(), cpu=_cpu_seconds())

    def reading(self) -> dict[str, Any]:
        """``{"wall_seconds", "cpu_seconds", "peak_memory_mb"}`` since :meth:`start` (peak: of the process)."""
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return {
            "wall_seconds": round(time.monotonic() - self.wall, 3),
            "cpu_seconds": round(_cpu_seconds() - self.cpu, 3),
            "peak_memory_mb": round(max(own, children) / 1024, 1),  # Linux reports KiB
        }


def _cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total
