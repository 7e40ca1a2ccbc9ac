import datetime as dt
import math
import tracemalloc

import pytest
import yaml
from pydantic import ValidationError

from components.config import Config, ConfigError, load, parse
from tests.helpers import REPO


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
        (lambda p: p["simulator"].pop("scenes"), "simulator.scenes: missing: required"),
        (lambda p: p["gate"]["focus"][0].update(scene="tv"), "gate.focus[0].scene: 'tv'"),
        (lambda p: p["gate"].update(calibration_band=[1.2, 2.0]), "gate.calibration_band"),
        (lambda p: p["schedule"].update(timezone="Mars/Base"), "schedule.timezone"),
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


def edit(section: str, **values):
    return lambda p: p[section].update(values)


INF, NAN = math.inf, math.nan


# Nonsense that used to load: each is refused with `params: <key>: <value>: <what is allowed>`.
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            edit("validation", ctr_band=[0.25, 0.002]),
            "validation.ctr_band: [0.25, 0.002]: must be [low, high] with 0 <= low < high <= 1",
        ),
        (edit("validation", ctr_band=[NAN, NAN]), "validation.ctr_band[0]: nan: must be a finite"),
        (edit("validation", cvr_band=[0.0, 1.5]), "validation.cvr_band: [0.0, 1.5]: must be"),
        (edit("validation", cvr_band=[-0.1, 0.3]), "validation.cvr_band: [-0.1, 0.3]: must be"),
        (
            edit("gate", calibration_band=[0.2, INF]),
            "gate.calibration_band[1]: inf: must be a finite",
        ),
        (
            lambda p: p["gate"]["focus"][1].update(max_auc_drop=INF),
            "gate.focus[1].max_auc_drop: inf: must be a finite number in [0, 1]",
        ),
        (
            edit("model", tower=[0, -5]),
            "model.tower[0]: 0: must be an integer in [1, 8192]; model.tower[1]: -5: must be",
        ),
        (
            edit("model", ranking=[100_000]),
            "model.ranking[0]: 100000: must be an integer in [1, 8192]",
        ),
        (edit("model", tower=[8] * 9), "model.tower: [8, 8, 8, 8, 8, 8, ...]: must have at most 8"),
        (
            edit("model", embedding_dim=10**8),
            "model.embedding_dim: 100000000: must be an integer in [1, 1024]",
        ),
        (
            edit("model", embedding_dim="1e8"),
            "model.embedding_dim: '1e8': must be an integer in [1, 1024]",
        ),
        (edit("model", init_std=NAN), "model.init_std: nan: must be a finite number in (0, 1]"),
        (
            edit("train", lr_network=1e30),
            "train.lr_network: 1e+30: must be a finite number in (0, 10]",
        ),
        (
            edit("train", lr_embedding=0.0),
            "train.lr_embedding: 0.0: must be a finite number in (0, 10]",
        ),
        (edit("train", threads=100_000), "train.threads: 100000: must be an integer in [0, 256]"),
        (edit("train", batch_size=0), "train.batch_size: 0: must be an integer in [1, 1048576]"),
        (
            edit("simulator", rows_per_day=10**9),
            "simulator.rows_per_day: 1000000000: must be an integer",
        ),
        (edit("simulator", user_zipf=INF), "simulator.user_zipf: inf: must be a finite number > 0"),
        (edit("simulator", days=500), "simulator.days: 500: must be at most horizon_days (180)"),
        (lambda p: p.update(seed=-1), "seed: -1: must be an integer in [0, 4294967295]"),
        (
            edit("paths", quarantine="data/raw"),
            "paths.quarantine: 'data/raw': must be a folder apart from paths.raw ('data/raw')",
        ),
        (
            edit("paths", quarantine="./data/raw/"),
            "paths.quarantine: 'data/raw': must be a folder apart",
        ),
        (
            edit("paths", validation="data/raw/checks"),
            "paths.validation: 'data/raw/checks': must be",
        ),
        (edit("paths", models="."), "paths.models: '.': must be a folder apart from paths.raw"),
        (
            edit("paths", dashboards="runs"),
            "paths.dashboards: 'runs': must be a folder apart from paths.runs",
        ),
        (
            edit("shared", database="mysql://db/mtms"),
            "shared.database: 'mysql://db/mtms': must be a PostgreSQL URL",
        ),
        (
            edit("shared", prefect_api="http://prefect:4200"),
            "shared.prefect_api: 'http://prefect:4200': must be a Prefect server's API URL",
        ),
        (
            edit("parallel", scenes="ray"),
            "parallel.scenes: 'ray': must be 'local' or 'dask'",
        ),
        (
            edit("parallel", dask_scheduler="dask:8786"),
            "parallel.dask_scheduler: 'dask:8786': must be a Dask scheduler's address",
        ),
        (
            edit("simulator", n_userz=5),
            "unknown key 'simulator.n_userz' (did you mean 'simulator.n_users'?)",
        ),
        (
            lambda p: p["gate"]["focus"][0].update(aucfloor=0.5),
            "unknown key 'gate.focus[0].aucfloor' (did you mean 'gate.focus[0].auc_floor'?)",
        ),
    ],
)
def test_nonsense_params_are_refused_in_one_line(change, problem):
    params = raw_params()
    change(params)
    with pytest.raises(ConfigError) as err:
        parse(params, REPO)
    message = str(err.value)
    assert message.startswith(f"params: {problem}")
    assert "\n" not in message and len(message) < 400  # never the parsed config


def test_many_problems_are_listed_on_one_line():
    params = raw_params()
    params["model"].update(embedding_dim=0, latent_dim=0, init_std=-1.0)
    params["train"].update(epochs=0, threads=-1, lr_network=INF)
    message = str(pytest.raises(ConfigError, parse, params, REPO).value)
    listed = message.count("; ")  # the problems shown, and the "and N more" of the rest
    assert 2 <= listed < 6 and message.endswith(f"; and {6 - listed} more")
    assert "\n" not in message and len(message) < 200
    assert "model.embedding_dim: 0: must be an integer in [1, 1024]" in message
    assert "\n" not in message


@pytest.mark.parametrize("key", ["raw", "quarantine", "runs"])
def test_a_path_outside_the_workspace_is_fine(tmp_path, key):
    params = raw_params()
    params["paths"][key] = str(tmp_path / key)
    assert parse(params, REPO).path(key) == (tmp_path / key).resolve()


BILLION_LAUGHS = "\n".join(
    ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]
)  # 9**10 "lol"s once expanded: several GB as JSON


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BILLION_LAUGHS, "line 2: YAML alias *lol0: aliases are not allowed"),
        ("base: &b {x: 1}\nseed: *b\n", "line 2: YAML alias *b: aliases are not allowed"),
        ("base: &b {x: 1}\nother:\n  <<: *b\n", "line 3: YAML alias *b"),
        ("seed: " + "[" * 20 + "]" * 20 + "\n", "line 1: nested deeper than 16 levels"),
        ("# padding\n" * (1 << 17), "over 1 MiB: too large for a params file"),
        ("seed: " + "9" * 5000 + "\n", "unreadable value"),
        ("2026-01-01: 3\n", "not a params mapping"),
        ("seed: 1\ntrain:\n  epochs: 1\n  epochs: 2\n", "line 4: key 'epochs' given twice"),
        ("seed: !!python/object/apply:os.getpid []\n", "unsafe YAML tag at line 1"),
    ],
)
def test_unsafe_yaml_is_refused_before_it_is_built(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as err:
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)
    assert peak < 8 << 20  # the bomb is never expanded


def test_unreadable_files_are_one_line_errors(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes(b"seed: \xe9\n")
    with pytest.raises(ConfigError, match="cannot read the params file"):
        load(tmp_path / "latin1.yaml")
    with pytest.raises(ConfigError, match="cannot read the params file"):
        load(tmp_path)


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


def _unquoted_scenes(p):  # what a user types after seeing the importer's scene names
    p["model"]["scenes"] = yaml.safe_load("[301_1, 301_2, 301_3]")
    p["gate"]["focus"] = yaml.safe_load(
        "[{scene: 301_1, task: ctr, auc_floor: 0.6, min_rows: 1, max_auc_drop: 0.02},"
        " {scene: 301_2, task: ctr, auc_floor: 0.6, min_rows: 1, max_auc_drop: 0.02}]"
    )


# the mistakes a new user made moving to Ali-CCP by hand (issue 14): (change, key named)
REAL_DATA_MISTAKES = {
    "dataset": (lambda p: p["data"].update(dataset="ali-ccp"), "data.dataset"),
    "min_rows": (lambda p: p["validation"].update(min_rows="1k"), "validation.min_rows"),
    "scenes": (lambda p: p["model"].update(scenes=["301_1"]), "gate.focus[0].scene"),
    "unquoted": (_unquoted_scenes, "model.scenes[0]: 3011"),
    "focus": (lambda p: p["gate"]["focus"][0].update(scene="301_1"), "gate.focus[0].scene"),
    "twice": (lambda p: p["gate"]["focus"].append(p["gate"]["focus"][0]), "gate.focus"),
    "custom": (lambda p: p["data"].update(dataset="custom"), "data.contract"),
}


@pytest.mark.parametrize("mistake", list(REAL_DATA_MISTAKES))
def test_each_real_data_mistake_is_one_short_line_naming_its_key(mistake):
    change, key = REAL_DATA_MISTAKES[mistake]
    params = raw_params()
    change(params)
    message = str(pytest.raises(ConfigError, parse, params, REPO).value)
    assert key in message and "\n" not in message and len(message) < 200, message
