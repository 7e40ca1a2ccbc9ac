"""The server's lifetime, owned by this process: bind, serve until SIGTERM or SIGINT, stop.

No child process is started, so nothing can outlive the command and hold the port. The
socket is bound before uvicorn starts, so a taken port is a one-line ServingError and a
client may connect as soon as `listen` returns (the backlog holds it until serving starts).
"""

from __future__ import annotations

import os
import signal
import socket
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from components.serving import ServingError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_SECONDS = 10  # requests in flight get this long to finish after a stop signal


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (IPv4 or IPv6, names resolved)."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        return socket.create_server(address, family=family, backlog=2048)
    except (OSError, UnicodeError) as err:  # the errno's text: create_server adds the address
        code = getattr(err, "errno", None)  # a resolver error's is negative: its own text
        reason = os.strerror(code) if code and code > 0 else getattr(err, "strerror", str(err))
        raise ServingError(f"cannot listen on {host}:{port}: {reason}") from None


def run(app: Starlette, sock: socket.socket) -> None:
    """Serve `app` on `sock` until SIGTERM or SIGINT, then stop gracefully and return."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=GRACE_SECONDS,
        )
    )

    def stop(sig: int, frame: FrameType | None) -> None:
        # Before uvicorn's own handlers are in place this stops it as it starts; after its
        # graceful shutdown uvicorn raises the signal again for the handler it found: this
        # one, so the command returns instead of dying of the signal.
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
