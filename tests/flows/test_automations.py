"""deploy/automations.yaml: Prefect's own models accept it, and its triggers fire on the
events a bad day of the daily flow makes (final state name, drift tag), and only those."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import yaml

FILE = Path(__file__).resolve().parents[2] / "deploy/automations.yaml"


def automations() -> dict:
    """name -> the server's Automation (its trigger can say which events it covers)."""
    from prefect.events.schemas.automations import AutomationCore
    from prefect.server.events.schemas.automations import Automation

    out = {}
    for spec in yaml.safe_load(FILE.read_text())["automations"]:
        core = AutomationCore.model_validate(spec)  # what `prefect automation create` does
        dumped = {**core.model_dump(mode="json"), "id": uuid.uuid4()}
        out[core.name] = Automation.model_validate(dumped)
    return out


def event(state: str, flow: str = "mtms-daily", tags: tuple[str, ...] = ()):
    """The event Prefect emits when a flow run of `flow` with `tags` enters `state`."""
    from prefect.server.events.schemas.events import ReceivedEvent

    related = [{"prefect.resource.id": f"prefect.flow.{uuid.uuid4()}",
                "prefect.resource.role": "flow", "prefect.resource.name": flow}]  # fmt: skip
    related += [{"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"}
                for t in tags]  # fmt: skip
    return ReceivedEvent(
        occurred=dt.datetime.now(dt.timezone.utc),
        event=f"prefect.flow-run.{state}",
        resource={"prefect.resource.id": f"prefect.flow-run.{uuid.uuid4()}"},
        related=related,
        id=uuid.uuid4(),
    )


@pytest.mark.parametrize(
    ("state", "flow", "tags", "bad_day", "drift"),
    [
        ("Rejected", "mtms-daily", ("outcome:rejected",), True, False),
        ("Quarantined", "mtms-daily", ("outcome:quarantined",), True, False),
        ("DayFailed", "mtms-daily", ("outcome:failed", "drift"), True, True),
        ("Promoted", "mtms-daily", ("outcome:promoted", "drift"), False, True),
        ("Promoted", "mtms-daily", ("outcome:promoted",), False, False),
        ("Completed", "mtms-daily", ("drift",), False, False),  # a rerun: nothing new
        ("Rejected", "another-flow", ("drift",), True, False),  # another flow's: neither fires
    ],
)
def test_the_automations_fire_on_bad_days_and_drift(state, flow, tags, bad_day, drift):
    from flows.daily import daily
    from flows.steps import STATE_NAMES

    found = automations()
    assert set(found) == {"mtms day rejected, quarantined or failed", "mtms drift"}
    expected = [e for a in found.values() for e in a.trigger.expect]
    watched = {e.removeprefix("prefect.flow-run.") for e in expected}
    assert watched <= set(STATE_NAMES.values())  # a renamed state would silently never fire
    on_day = found["mtms day rejected, quarantined or failed"].trigger
    happened = event(state, flow, tags)
    assert on_day.covers(happened) == (bad_day and flow == daily.name)
    assert found["mtms drift"].trigger.covers(happened) == drift
