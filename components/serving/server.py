"""The scoring server as an ASGI app built from one Bundle: MLflow's wire protocol, hardened.

Routes: POST /invocations (MLflow's JSON formats -> `{"predictions": [{p_ctr, p_cvr,
p_ctcvr}, ...]}`), GET /ping and /health, GET /version, GET /model (the served version,
its day and bundle checksum). The bundle is loaded by the caller from checksummed data
(weights_only), so nothing a registry holds is ever unpickled here. Concurrent requests are
scored together (`batching`): 200 one-row requests cost about what a few do.

Every answer but a prediction is JSON `{"error_code", "message"}` of at most ~1 KB: 413 over
the body limit (declared or streamed), 415 without `application/json`, 400 for bad JSON, a
bad shape or rows score() refuses (ScoringError), 404/405 for other paths and methods, and a
500 that says nothing of the code behind it. A 200 never carries NaN or Infinity.

Following an alias: given `follow`, a thread asks it every `every` seconds for a newer
bundle (the caller reads the registry) and swaps it in whole: requests already being scored
finish on the old bundle, the next ones go to the new. A failed look keeps the old one.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from components.models.bundle import Bundle
from components.models.scoring import OUTPUTS, ScoringError, inputs, shorten, trained_scenes
from components.serving import MAX_BODY
from components.serving.batching import Batcher
from components.serving.protocol import RequestError, decode, rows

log = logging.getLogger(__name__)

MAX_MESSAGE = 400  # characters of an error message: a body stays far below 1 KB
HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "REQUEST_TOO_LARGE"}


@dataclass(frozen=True)
class Served:
    """Which registered model the app serves, as GET /model answers."""

    version: int | None  # the registry's version number; None for a bundle served from a file
    day: str
    checksum: str


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    """The one error body: a code and a short, single-line message."""
    text = shorten(" ".join(str(message).split()), MAX_MESSAGE)
    return JSONResponse({"error_code": code, "message": text}, status, headers)


def _json(content: object, status: int = 200) -> Response:
    """Strict JSON: a NaN or Infinity anywhere is a ValueError, never an invalid body."""
    text = json.dumps(content, allow_nan=False, separators=(",", ":"))
    return Response(text, status, media_type="application/json")


def _check_content_type(request: Request) -> None:
    mime, *options = [
        part.strip().lower() for part in request.headers.get("content-type", "").split(";")
    ]
    charsets = {o.partition("=")[2].strip('"') for o in options if o.startswith("charset=")}
    others = [o for o in options if o and not o.startswith("charset=")]
    if mime != "application/json" or others or not charsets <= {"utf-8"}:
        raise RequestError(
            415, "UNSUPPORTED_MEDIA_TYPE", "send JSON with Content-Type: application/json"
        )


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused once it passes `limit`: by its declared length or while streaming."""
    declared = request.headers.get("content-length", "")
    too_large = RequestError(413, "REQUEST_TOO_LARGE", f"the body is over {limit} bytes")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(scored: np.ndarray) -> Response:
    """`{"predictions": [{p_ctr, p_cvr, p_ctcvr}, ...]}`, MLflow's records of a DataFrame."""
    try:
        records = [dict(zip(OUTPUTS, row, strict=True)) for row in scored.tolist()]
        return _json({"predictions": records})
    except ValueError:  # impossible after score()'s checks: say so rather than send NaN
        log.error("non-finite prediction for a request of %d row(s)", len(scored))
        return error(500, "INTERNAL_ERROR", "the model produced a non-finite prediction")


class Current:
    """What the app serves now: one bundle with its batcher, inputs and GET /model answer,
    replaced whole (one reference) when a followed alias moves."""

    def __init__(self, bundle: Bundle, served: Served) -> None:
        self.served, self.batcher = served, Batcher(bundle)
        self.names = inputs(bundle.encoder.contract)
        self.about = {
            "model": bundle.name, "version": served.version, "day": served.day,
            "checksum": served.checksum, "scenes": list(trained_scenes(bundle)),
        }  # fmt: skip


Follow = Callable[[Served], "tuple[Bundle, Served] | None"]  # None: nothing newer


class Follower(threading.Thread):
    """Asks `follow` every `every` seconds whether the alias moved; swaps the bundle if so."""

    def __init__(self, holder: dict, follow: Follow, every: float) -> None:
        if not every > 0:
            raise ValueError(f"an alias is checked every {every} s: it must be over 0")
        super().__init__(name="mtms-follow-alias", daemon=True)
        self.holder, self.follow, self.every = holder, follow, every
        self.stopped = threading.Event()
        self.said = ""  # the last failure warned of: a lasting one is said once

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            self.look()

    def look(self) -> None:
        """One check: swap in what `follow` answers; on any failure serve on and say why."""
        old = self.holder["current"].served
        try:
            found = self.follow(old)
            current = None if found is None else Current(*found)
        except Exception as err:  # a registry that is down, a version that cannot serve
            reason = " ".join(str(err).split())[:300]
            if reason != self.said:
                log.warning("alias not followed (%s); still serving version %s",
                            reason, old.version)  # fmt: skip
            self.said = reason
            return
        self.said = ""
        if current is not None:
            self.holder["current"] = current
            log.warning("now serving version %s (was %s)", current.served.version, old.version)

    def stop(self) -> None:
        self.stopped.set()


def build_app(
    bundle: Bundle, served: Served | None = None, max_body: int = MAX_BODY,
    follow: Follow | None = None, every: float = 30.0,
) -> Starlette:  # fmt: skip
    """The ASGI app scoring with `bundle`; `max_body` bytes is the largest request body.
    With `follow`, the served bundle is replaced when it answers a newer one (app.state.follower
    is the thread: start and stop it around serving)."""
    served = served or Served(None, bundle.meta.get("day", ""), bundle.meta.get("checksum", ""))
    version = importlib.metadata.version("mtms")
    holder = {"current": Current(bundle, served)}

    async def invocations(request: Request) -> Response:
        try:
            _check_content_type(request)
            now = holder["current"]  # one bundle for the whole request
            asked = rows(decode(await _body(request, max_body)), now.names)  # <= 1 MiB: ~10 ms
            return _answer(await now.batcher.score(asked))
        except RequestError as err:
            return error(err.status, err.code, str(err))
        except ScoringError as err:
            return error(400, "INVALID_PARAMETER_VALUE", str(err))
        except RecursionError:  # a value nested deeply enough to exhaust a converter
            return error(400, "BAD_REQUEST", "a value is nested too deeply")

    async def ping(request: Request) -> Response:
        return Response("\n", media_type="application/json")  # MLflow's answer

    async def version_(request: Request) -> Response:
        return Response(version, media_type="text/plain")

    async def model(request: Request) -> Response:
        return _json(holder["current"].about)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = HTTP_CODES.get(exc.status_code, "BAD_REQUEST")
        return error(exc.status_code, code, str(exc.detail), exc.headers)

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("scoring server error: %s", type(exc).__name__)  # the traceback: uvicorn's log
        return error(500, "INTERNAL_ERROR", "internal error")

    routes = [
        Route("/invocations", invocations, methods=["POST"]),
        Route("/ping", ping, methods=["GET"]),
        Route("/health", ping, methods=["GET"]),
        Route("/version", version_, methods=["GET"]),
        Route("/model", model, methods=["GET"]),
    ]
    handlers = {HTTPException: http_error, Exception: crash}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.follower = Follower(holder, follow, every) if follow is not None else None
    return app
