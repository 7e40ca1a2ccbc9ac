"""`mtms serve`: the champion behind a scoring server in this process (MLflow's protocol)."""

from __future__ import annotations

import json

from rich.console import Console

from components.config import Config
from components.registry import RegistryError


def serve(
    console: Console, cfg: Config, host: str, port: int, max_body: int | None = None,
    alias: str = "champion", version: int | None = None, follow_every: float = 30.0,
) -> int:  # fmt: skip
    """Serve a version's bundle (the champion's unless `alias` or `version` says another)
    until SIGTERM or SIGINT; 0 once stopped.

    The bundle comes from the registry checked twice (the version's checksum tag, then the
    file's own sha256) and is loaded with weights_only: the logged pyfunc is never unpickled.
    Serving an alias, the registry is asked every `follow_every` seconds (0: never) where it
    points; a version it moved to is verified (it loads and scores) before it is served.
    """
    from components.models import bundle as bundles
    from components.models.scoring import example_row, trained_scenes
    from components.registry.mlflow_registry import Registry
    from components.serving import MAX_BODY
    from components.serving.lifetime import listen, run
    from components.serving.server import Served, build_app

    registry = Registry(cfg)
    champion = registry.get(version) if version is not None else registry.by_alias(alias)
    if champion is None:
        promotes = ": a daily run that passes the gate promotes one" if alias == "champion" else ""
        raise RegistryError(f"model {registry.name!r} has no {alias} to serve{promotes}")
    bundle = bundles.load(registry.bundle_path(champion))
    served = Served(champion.number, champion.trained_through, champion.checksum)

    def newer(now: Served) -> tuple[bundles.Bundle, Served] | None:
        moved = registry.by_alias(alias)
        if moved is None or moved.number == now.version:  # unset since: serve on
            return None
        bundle = registry.load_verified(moved)  # checksums, loads once, scores example rows
        return bundle, Served(moved.number, moved.trained_through, moved.checksum)

    follows = version is None and follow_every > 0
    app = build_app(bundle, served, max_body or MAX_BODY, newer if follows else None, follow_every)
    sock = listen(host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    record = example_row(bundle.encoder.contract, trained_scenes(bundle)[0])
    body = json.dumps({"dataframe_records": [record]})
    say = lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    say(
        f"serving {registry.model_uri(alias) if version is None else registry.name}: "
        f"version {champion.number} (trained through {champion.trained_through}, "
        f"bundle {champion.checksum[:12]}) from {registry.tracking_uri}"
    )
    say("score rows (answers p_ctr, p_cvr, p_ctcvr per row):")
    say(
        f"curl -s http://{shown}:{port}/invocations -H 'Content-Type: application/json' -d '{body}'"
    )
    if follows:
        say(f"following {alias}: checked every {follow_every:g} s, a version it moves to is "
            "served without a restart")  # fmt: skip
    elif version is None:
        say(f"the alias {alias} is read at start: restart after a promotion or rollback")
    say(f"listening on http://{shown}:{port} (Ctrl+C or SIGTERM stops it)")
    if app.state.follower is not None:
        app.state.follower.start()
    try:
        run(app, sock)
    finally:
        if app.state.follower is not None:
            app.state.follower.stop()
    return 0
