import datetime as dt

import pytest
import yaml
from pydantic import ValidationError

from components.config import Config, ConfigError, load, parse
from tests.conftest import REPO


def raw_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_repo_params_load_into_one_frozen_config():
    cfg = load(REPO / "params.yaml")
    assert isinstance(cfg, Config)
    assert cfg.simulator.start == dt.date(2026, 1, 5)
    assert cfg.path("raw") == (REPO / "data/raw").resolve()
    with pytest.raises(ValidationError, match="frozen"):
        cfg.seed = 3


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["simulator"].update(n_userz=5), "unknown key 'simulator.n_userz'"),
        (lambda p: p.update(extra={}), "unknown key 'extra'"),
        (lambda p: p["simulator"].update(n_users="many"), "simulator.n_users"),
        (lambda p: p["simulator"].update(n_users=2.5), "simulator.n_users"),
        (lambda p: p["simulator"].update(start="yesterday"), "simulator.start"),
        (lambda p: p["data"].update(dataset="criteo"), "data.dataset"),
        (lambda p: p["validation"].update(ctr_band=[0.1]), "validation.ctr_band"),
        (lambda p: p["simulator"].pop("scenes"), "simulator.scenes: Field required"),
        (lambda p: p["gate"]["focus"][0].update(scene="tv"), "not in model.scenes"),
        (lambda p: p["gate"].update(calibration_band=[1.2, 2.0]), "calibration_band"),
        (lambda p: p["schedule"].update(timezone="Mars/Base"), "unknown timezone"),
        (lambda p: p["schedule"].update(cron="daily"), "schedule.cron"),
    ],
)
def test_bad_params_fail_with_one_line_naming_the_key(edit, message):
    params = raw_params()
    edit(params)
    with pytest.raises(ConfigError) as err:
        parse(params, REPO)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_duplicate_scene_names_are_rejected():
    params = raw_params()
    params["simulator"]["scenes"][1]["name"] = "feed"
    with pytest.raises(ConfigError, match="unique"):
        parse(params, REPO)


def test_missing_and_malformed_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such params file"):
        load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(bad)


def test_every_params_knob_has_a_comment():
    for n, line in enumerate((REPO / "params.yaml").read_text().splitlines(), 1):
        stripped = line.strip()
        is_section = stripped.endswith(":")  # a mapping whose keys carry the comments
        if stripped and not stripped.startswith(("#", "- {")) and not is_section:
            assert "#" in line, f"params.yaml line {n} has no comment: {line!r}"
