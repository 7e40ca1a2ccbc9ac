"""The dashboards of finished days: their values in the Evidently project, its panels, and
index.html; then the days are marked published (components.doctor republishes the rest)."""

from __future__ import annotations

from components import doctor, runs
from components.config import Config
from components.monitoring.evidently_report import add_day_values, build_dashboard
from components.monitoring.index import build_index
from components.records import DayRecord


def publish(cfg: Config, records: list[DayRecord]) -> None:
    for record in records:
        add_day_values(cfg, record.day, record.values())
    build_dashboard(cfg)
    build_index(cfg, runs.records(cfg))
    doctor.mark_published(cfg, [r.day for r in records])
