"""The temporary Prefect API of `mtms run` and `mtms backfill`, in a child that dies with mtms.

With no PREFECT_API_URL, Prefect 3 starts its own temporary API on the first client call
(`SubprocessASGIServer`): a plain `Popen` of uvicorn, stopped only by an `atexit` hook. Any
death that skips interpreter shutdown (kill -9, SIGTERM's default action, the OOM killer)
left it running, ~200 MB and still listening. Prefect offers no setting that ties it to its
parent (`prefect server start` is a server you run yourself; `prefect_test_harness` uses
the same class), so mtms owns the lifetime instead:

- the same app and environment Prefect would run (`create_app` with
  PREFECT__SERVER_EPHEMERAL=1, UI off, PREFECT_HOME in the workspace), so flows see no
  difference; PREFECT_API_URL is set for this process before Prefect is imported, so
  Prefect starts no server of its own;
- mtms binds a free loopback port and hands the listening socket to uvicorn (`fd`): no race
  for the port, and the URL is known at once, so the API boots while mtms imports the flow;
- the child asks the kernel for SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG) as
  its first act after exec, not in a preexec_fn (no Python between fork and exec in a
  process with threads), then checks it still has that parent (closes the race). The
  signal follows the thread that forked, so `start` is called from the main thread;
- its own session and process group: a terminal's Ctrl-C reaches mtms only, which marks
  the run crashed while the API is still up;
- it stops (terminate, wait, kill) when mtms exits, by an `atexit` hook registered before
  Prefect is imported: Prefect flushes its logs and events in exit hooks of its own, which
  run before ours (last registered, first run). SIGTERM raises SystemExit around `mtms run`
  and `backfill` (`sigterm_exits`) so that normal exit runs; kill -9 is the kernel's job.

A PREFECT_API_URL in the environment is a server we do not own: it is left alone, as is a
process where Prefect is already loaded (its settings are read; e.g. a test harness).
Off Linux there is no prctl: the hook still covers normal exit, errors and SIGTERM.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the child imports this module: keep its imports light
    from components.config import Config

APP = "prefect.server.api.server:create_app"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_WAIT_S = 10.0
# the child's sys.path must not start with the working directory (a stray cli/ there)
BOOT = "import sys; del sys.path[0]; from cli.prefect_api import serve; serve()"


class PrefectApiError(ValueError):
    """The temporary Prefect API did not come up."""


class TemporaryApi:
    """Prefect's API app in a child process on a loopback port this process bound."""

    def __init__(self, log: Path) -> None:
        self.log = log
        sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        env.update(PREFECT_UI_ENABLED="0", PREFECT__SERVER_EPHEMERAL="1", PREFECT__SERVER_FINAL="1")
        log.parent.mkdir(parents=True, exist_ok=True)
        with sock, open(log, "ab") as out:  # the child keeps both; ours close here
            argv = [sys.executable, "-c", BOOT, str(os.getpid()), str(sock.fileno())]
            self.process = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=[sock.fileno()],
                start_new_session=True,
            )

    def wait(self, timeout: float | None = None) -> None:
        """Until /health answers; a one-line error naming the log if it never does."""
        timeout = startup_timeout() if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.process.poll() is not None:
                raise PrefectApiError(
                    f"the temporary Prefect API exited with code {self.process.returncode} "
                    f"before answering; see {self.log}"
                )
            try:  # the socket listens already: this waits until uvicorn serves
                with urllib.request.urlopen(f"{self.url}/health", timeout=min(left, 5)) as r:
                    if r.status == 200:
                        return
            except OSError:  # URLError, refused, reset, timed out: not up yet
                time.sleep(0.1)
        self.stop()
        raise PrefectApiError(
            f"the temporary Prefect API did not answer {self.url}/health within {timeout:g} s "
            f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); see {self.log}"
        )

    def stop(self) -> None:
        """Terminate its process group, wait, then kill whatever is left in the group."""
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(STOP_WAIT_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def start(cfg: Config) -> TemporaryApi | None:
    """Start the API for this process unless Prefect has one (PREFECT_API_URL set, or
    Prefect already loaded); set PREFECT_API_URL; stop it when this process exits."""
    if os.environ.get("PREFECT_API_URL") or "prefect" in sys.modules:
        return None
    home = Path(os.environ.get("PREFECT_HOME") or cfg.path("prefect"))
    api = TemporaryApi(home / "temporary-api.log")
    atexit.register(api.stop)
    os.environ["PREFECT_API_URL"] = api.url
    return api


def startup_timeout() -> float:
    """Prefect's own knob for its temporary API (cli/workspace.py sets the default)."""
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """Within: SIGTERM unwinds like an exception (exit code 143), so locks are released and
    the API stops; the previous handler is back after. Main thread only (signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve() -> None:
    """The child (argv: parent pid, socket fd): die with the parent, then serve the app."""
    parent, fd = int(sys.argv[1]), int(sys.argv[2])
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # the parent died before prctl: no signal would come
        sys.exit(1)
    import uvicorn

    uvicorn.run(APP, factory=True, fd=fd, log_level="error", lifespan="on")
