"""`mtms serve`: the champion behind a scoring server."""

from __future__ import annotations

import json
import subprocess

from rich.console import Console

from components.config import Config
from components.data.contract import CONTRACTS, Contract, Role
from components.registry import RegistryError
from components.registry.mlflow_registry import Registry


def example_record(contract: Contract, scene: str) -> dict:
    """One request row of the contract's inputs (its ids are unseen: they score as OOV)."""
    record: dict = {contract.scene: scene}
    for column in contract.features:
        if column.role is Role.MULTI:
            record[column.name] = [1]
        elif column.role is Role.DENSE:
            record[column.name] = 1.0
        else:
            record[column.name] = int(column.min or 1)
    return record


def serve(console: Console, cfg: Config, host: str, port: int) -> int:
    """Run the scoring server on the champion until interrupted; its exit code."""
    registry = Registry(cfg)
    champion = registry.champion()
    if champion is None:
        raise RegistryError(
            f"model {registry.name!r} has no champion to serve: a daily run that passes "
            "the gate promotes one"
        )
    argv, env = registry.serve_command(host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    record = example_record(CONTRACTS[cfg.data.dataset], cfg.model.scenes[0])
    body = json.dumps({"dataframe_records": [record]})
    console.print(
        f"serving {registry.model_uri()}: version {champion.number} (day {champion.day}, "
        f"bundle {champion.checksum[:12]}) from {registry.tracking_uri}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print("score rows (answers p_ctr, p_cvr, p_ctcvr per row):", markup=False)
    console.print(
        f"curl -s http://{shown}:{port}/invocations -H 'Content-Type: application/json' "
        f"-d '{body}'",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    console.print("the alias is read at start: restart after a promotion or rollback")
    try:
        return subprocess.run(argv, env=env).returncode
    except KeyboardInterrupt:
        return 0
