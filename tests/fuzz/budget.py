"""Case budgets: a few hundred in the default run, >= 10^4 in the marked run (`make fuzz`).

Each fuzz test exists twice: unmarked with the CI budget, and marked `fuzz` with the long one
(`LANECAP_FUZZ_SCALE` multiplies the long budgets). `COUNTS` tallies the cases each test ran;
the fuzz conftest prints them at the end of the run.
"""

from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("LANECAP_FUZZ_SCALE", "1"))
COUNTS: Counter[str] = Counter()


def ci(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def long(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
