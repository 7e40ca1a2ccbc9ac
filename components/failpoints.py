"""Failpoints: named places where a fault-injection run kills its own process.

`MTMS_FAILPOINTS=train:after,atomic:rename.pt` makes the process SIGKILL itself when it
reaches one of those places: the test double of a power cut or the OOM killer at an exact
point, deterministic where a timed `kill -9` is not (the fault campaign in
benchmarks/fault_campaign.py and tests/flows/test_kills.py). Unset, `hit` costs one dict
lookup. Places: `<step>:before` / `<step>:after` around each daily step (flows/steps.py
`timed`), and `atomic:rename<suffix>` (`atomic:rename.pt`, `.json`, `.html`) after a
temporary file is written, before it replaces the target (components/atomic.py).

`place=stop` stops the process there instead (SIGSTOP): it stays alive holding what it
holds (the run lock, its connections) until a test kills or continues it.
"""

from __future__ import annotations

import os
import signal

ENV = "MTMS_FAILPOINTS"


def hit(place: str) -> None:
    armed = os.environ.get(ENV)
    if not armed:
        return
    for item in armed.split(","):
        name, _, action = item.partition("=")
        if name == place:
            os.kill(os.getpid(), signal.SIGSTOP if action == "stop" else signal.SIGKILL)
