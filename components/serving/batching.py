"""Micro-batching: requests that arrive while a batch is scoring are scored together next.

A one-row request costs ~10 ms on its own (building a frame and a table, encoding, a
forward pass per scene); 200 of them in one score() call cost about as much as a few.
Rows score the same either way (a row's own features and scene decide its output; float32
sums may differ in the last bits with the batch's size). A request whose rows score()
refuses never fails the others: a refused batch is scored again request by request, so
every request gets its own answer or its own error.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
from starlette.concurrency import run_in_threadpool

from components.models.bundle import Bundle
from components.models.scoring import OUTPUTS, score
from components.serving.protocol import Rows

MAX_ROWS = 8192  # rows scored in one call; a batch takes whole requests up to this

Outcome = np.ndarray | BaseException  # [rows, 3] p_ctr, p_cvr, p_ctcvr; or why not


def _frame(requests: list[Rows]) -> pd.DataFrame:
    """One frame of every request's rows; a column some request lacks is null there."""
    names = list(dict.fromkeys(n for r in requests for n in r.columns))
    columns = {n: [v for r in requests for v in r.columns.get(n, [None] * r.count)] for n in names}
    return pd.DataFrame(columns, index=pd.RangeIndex(sum(r.count for r in requests)))


def score_all(bundle: Bundle, requests: list[Rows]) -> list[Outcome]:
    """Each request's scores (or the error of scoring it alone); never raises."""
    if len(requests) > 1:
        try:
            together = score(bundle, _frame(requests))[list(OUTPUTS)].to_numpy()
        except Exception:  # someone's rows are refused: find whose, one by one
            pass
        else:
            return np.split(together, np.cumsum([r.count for r in requests])[:-1])
    out: list[Outcome] = []
    for request in requests:
        try:
            out.append(score(bundle, _frame([request]))[list(OUTPUTS)].to_numpy())
        except Exception as err:
            out.append(err)
    return out


class Batcher:
    """Scores requests with `bundle`, one batch at a time, off the event loop."""

    def __init__(self, bundle: Bundle, max_rows: int = MAX_ROWS) -> None:
        self.bundle, self.max_rows = bundle, max_rows
        self.waiting: list[tuple[Rows, asyncio.Future]] = []
        self.drain: asyncio.Task | None = None

    async def score(self, request: Rows) -> np.ndarray:
        """[rows, 3] p_ctr, p_cvr, p_ctcvr of the request, batched with whatever waits."""
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((request, future))
        if self.drain is None or self.drain.done():
            self.drain = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Rows, asyncio.Future]]:
        taken, rows = 0, 0
        while taken < len(self.waiting) and (taken == 0 or rows < self.max_rows):
            rows += self.waiting[taken][0].count
            taken += 1
        batch, self.waiting = self.waiting[:taken], self.waiting[taken:]
        return batch

    async def _drain(self) -> None:
        while self.waiting:
            batch = self._take()
            outcomes = await run_in_threadpool(score_all, self.bundle, [r for r, _ in batch])
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():  # its client has gone
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
