"""Wall time of one day's drift report on a 1M-impression day against a 1M-row reference.

Simulates two days of `--rows` impressions (the second shocked) in a scratch workspace,
trains nothing: the champion is a freshly built MTMS bundle on those days' vocabularies
(scoring cost is what matters here, not its quality). Then times `monitor_day` as the
daily flow calls it, in this process, Evidently import included (first call).

    python benchmarks/drift_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml
from results import publish  # benchmarks/results.py: run as `python benchmarks/NAME.py`

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from components.config import load
    from components.data.partitions import read_partition
    from components.data.simulator import simulate
    from components.features.encoding import Encoder
    from components.models.bundle import Bundle, build
    from components.monitoring.drift import Sides, monitor_day
    from components.validation.quarantine import dataset_contract

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory(prefix="mtms-drift-bench-") as tmp:
        params = yaml.safe_load((REPO / "params.yaml").read_text())
        start = dt.date.fromisoformat(params["simulator"]["start"])
        day = start + dt.timedelta(days=1)
        params["simulator"] |= {"rows_per_day": args.rows}
        params["simulator"]["shock"] |= {"day": day.isoformat(), "days": 1}
        (Path(tmp) / "params.yaml").write_text(yaml.safe_dump(params))
        cfg = load(Path(tmp) / "params.yaml")
        simulate(cfg.simulator, cfg.seed, cfg.path("raw"), start, 2)
        reference, table = (read_partition(cfg.path("raw"), d) for d in (start, day))
        encoder = Encoder(dataset_contract(cfg), cfg.model.scenes, cfg.model.min_count)
        encoder.fit(reference)
        champion = Bundle("mtms", cfg.model, encoder, build("mtms", encoder, cfg.model, 0), {})
        began = time.perf_counter()
        summary = monitor_day(
            cfg, Sides(day, table, reference, [start]), champion, Path(tmp) / "out"
        )
        seconds = time.perf_counter() - began
    result = {
        "rows": table.num_rows, "reference_rows": reference.num_rows,
        "seconds": round(seconds, 1),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "drift_share": summary.drift_share, "drifted_columns": summary.drifted_columns,
        "alerts": summary.alerts,
    }  # fmt: skip
    publish(Path(__file__).stem, result)


if __name__ == "__main__":
    main()
