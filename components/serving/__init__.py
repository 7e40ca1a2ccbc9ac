"""The scoring server: MLflow's scoring protocol on a checksummed bundle, in this process.

`protocol` turns a request body into the rows to score (strictly: bad input is a short
4xx, never a 500); `server` is the ASGI app built from a Bundle. The command line
(`mtms serve`) loads the champion's bundle from the registry and runs the app with uvicorn.
"""

from __future__ import annotations

MAX_BODY = 1 << 20  # bytes; a one-row request is ~300 bytes, so ~3,000 rows fit


class ServingError(ValueError):
    """A server that cannot start: its address is taken or cannot be bound."""


__all__ = ["MAX_BODY", "ServingError"]
