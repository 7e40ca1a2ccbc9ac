"""A contract declared in YAML: its checks; an unseen schema that trains and scores."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml

from components.config import ConfigError
from components.data.contract import Role
from components.data.contract_yaml import ContractError, load_contract, parse_contract
from components.data.loaders import import_day
from components.data.loaders.tables import LoaderError
from components.data.partitions import read_partition
from components.evaluation.metrics import auc
from components.models.scoring import score
from components.training.chain import train_day
from components.validation.quarantine import dataset_contract, validate_day
from tests.helpers import write_params

SHOP = """\
name: shop-logs
columns:
  req: {role: request_id}
  dt: {role: day}
  channel: {role: scene}
  uid: {role: user}
  item: {role: sparse}
  slot: {role: id, dtype: int32, min: 0, max: 9}
  tags: {role: multi}
  price: {role: dense, min: 0}
  clicked: {role: click}
  bought: {role: conversion}
"""
DAY = dt.date(2026, 3, 2)


def test_roles_map_onto_the_contract_with_default_dtypes():
    contract = parse_contract(yaml.safe_load(SHOP))
    assert (contract.name, contract.scene, contract.user) == ("shop-logs", "channel", "uid")
    assert (contract.click, contract.conversion, contract.daction) == ("clicked", "bought", None)
    assert (contract.request_id, contract.day, contract.oracle) == ("req", "dt", {})
    assert [c.name for c in contract.features] == ["uid", "item", "slot", "tags", "price"]
    kinds = {c.name: (c.role, c.dtype, c.min, c.max) for c in contract.columns}
    assert kinds["item"] == (Role.SPARSE, "int64", None, None)
    assert kinds["slot"] == (Role.SPARSE, "int32", 0, 9)
    assert kinds["tags"] == (Role.MULTI, "list<int64>", None, None)
    assert kinds["price"] == (Role.DENSE, "float32", 0, None)
    assert kinds["clicked"] == (Role.LABEL, "int8", 0, 1)  # labels are 0/1 without saying so
    assert kinds["channel"][:2] == (Role.SCENE, "string") and kinds["dt"][:2] == (
        Role.META,
        "string",
    )
    assert kinds["req"][:2] == (Role.META, "int64")


def _replace(old: str, new: str) -> str:
    assert old in SHOP
    return SHOP.replace(old, new)


BAD = {
    "unknown role": (_replace("{role: sparse}", "{role: spares}"), "columns.item.role: 'spares'"),
    "no role": (_replace("{role: sparse}", "{dtype: int64}"), "columns.item.role: None"),
    "role a list": (_replace("{role: sparse}", "{role: [sparse]}"), "item.role: ['sparse']"),
    "a name across lines": (
        _replace("  item: {role: sparse}", '  "it\\nem": {role: x}'),
        "columns.'it\\nem'.role",
    ),
    "a huge bound": (_replace("min: 0}", "min: 1.0e+999}"), "columns.price.min: inf"),
    "unknown dtype": (_replace("role: dense,", "role: dense, dtype: float64,"), "'float64'"),
    "dtype of another role": (_replace("{role: multi}", "{role: multi, dtype: int64}"), "tags"),
    "two scenes": (_replace("{role: sparse}", "{role: scene}"), "columns.item.role: 'scene'"),
    "two clicks": (_replace("bought: {role: conversion}", "bought: {role: click}"), "'click'"),
    "no click": (_replace("  clicked: {role: click}\n", ""), "no click column"),
    "no conversion": (_replace("  bought: {role: conversion}\n", ""), "no conversion column"),
    "no scene": (_replace("  channel: {role: scene}\n", ""), "no scene column"),
    "no day": (_replace("  dt: {role: day}\n", ""), "no day column"),
    "no request id": (_replace("  req: {role: request_id}\n", ""), "no request_id column"),
    "no feature": (
        "name: x\ncolumns:\n  r: {role: request_id}\n  d: {role: day}\n  s: {role: scene}\n"
        "  c: {role: click}\n  v: {role: conversion}\n",
        "no feature column",
    ),
    "min above max": (_replace("min: 0, max: 9", "min: 9, max: 0"), "columns.slot.min/max"),
    "bound not a number": (_replace("min: 0}", "min: cheap}"), "columns.price.min: 'cheap'"),
    "bound on a label": (_replace("{role: click}", "{role: click, max: 2}"), "clicked.min/max"),
    "unknown column key": (_replace("{role: sparse}", "{role: sparse, size: 3}"), "item.size"),
    "duplicate names": (_replace("  tags: {role: multi}\n", "  item: {role: multi}\n"), "'item'"),
    "a number as a name": (_replace("  item:", "  7:"), "columns: 7"),
    "column not a mapping": (_replace("{role: sparse}", "sparse"), "columns.item: 'sparse'"),
    "not a mapping": ("- item\n- price\n", "(top level): 'list'"),
    "no columns": ("name: x\n", "columns: None"),
    "unknown top key": (SHOP + "owner: me\n", "owner: 'me'"),
    "bad name": (_replace("name: shop-logs", "name: Shop Logs"), "name: 'Shop Logs'"),
    "a built-in name": (_replace("name: shop-logs", "name: aliccp"), "name: 'aliccp'"),
    "unsafe YAML": (_replace("name: shop-logs", "name: !!python/name:os.system"), "YAML tag"),
    "an alias": (_replace("{role: multi}", "&m {role: multi}\n  more: *m"), "alias *m"),
    "not YAML": ("name: [x\n", "not valid YAML"),
}


@pytest.mark.parametrize(("text", "named"), list(BAD.values()), ids=list(BAD))
def test_a_bad_contract_is_one_short_line_naming_what_is_wrong(tmp_path, monkeypatch, text, named):
    monkeypatch.chdir(tmp_path)  # the file as params names it: relative
    (tmp_path / "shop.yaml").write_text(text)
    with pytest.raises(ContractError) as err:
        load_contract("shop.yaml")
    message = str(err.value)
    assert "\n" not in message and len(message) < 200, message
    assert message.startswith("shop.yaml: ") and named in message, message


def test_a_missing_contract_file_is_a_config_error_naming_the_key(tmp_path):
    cfg = write_params(tmp_path / "ws", {"data": {"dataset": "custom", "contract": "nope.yaml"}})
    with pytest.raises(ConfigError, match=r"^data.contract nope.yaml: no such contract file$"):
        dataset_contract(cfg)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"dataset": "custom"}, "data.contract: None: required with dataset custom"),
        ({"contract": "c.yaml"}, "data.contract: 'c.yaml': only read with dataset custom"),
        ({"dataset": "shop"}, "data.dataset: 'shop'"),
    ],
)
def test_a_params_mistake_about_the_contract_is_one_config_error_line(tmp_path, data, message):
    with pytest.raises(ConfigError) as err:
        write_params(tmp_path / "ws", {"data": data})
    assert message in str(err.value) and "\n" not in str(err.value)


def shop_day(rng: np.random.Generator, rows: int, day: dt.date) -> pd.DataFrame:
    """A day of shop logs: items have a hidden appeal, cheap items sell; a learnable signal."""
    appeal = np.random.default_rng(99).normal(0, 1.2, 60)  # the same items every day
    item = rng.integers(0, 60, rows)
    price = rng.gamma(2.0, 10.0, rows)
    channel = rng.choice(["app", "web"], rows, p=[0.6, 0.4])
    logit = -2.0 + appeal[item] + 0.5 * (channel == "app") - 0.02 * price
    clicked = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    bought = clicked * (rng.random(rows) < 1 / (1 + np.exp(1.0 - 0.8 * appeal[item])))
    tags = ["|".join(map(str, rng.integers(0, 20, rng.integers(1, 4)))) for _ in range(rows)]
    return pd.DataFrame({
        "uid": rng.integers(0, 500, rows), "item": item, "slot": rng.integers(0, 10, rows),
        "tags": tags, "price": price.round(2), "channel": channel, "clicked": clicked,
        "bought": bought, "session_note": "ignored",  # not in the contract: dropped
    })  # fmt: skip


def shop_workspace(root):
    root.mkdir(parents=True)
    (root / "shop.yaml").write_text(SHOP)
    focus = {
        "scene": "app",
        "task": "ctr",
        "auc_floor": 0.55,
        "min_rows": 500,
        "max_auc_drop": 0.05,
    }
    return write_params(root, {
        "data": {"dataset": "custom", "contract": "shop.yaml"},
        "model": {"scenes": ["app", "web"], "embedding_dim": 8, "tower": [16], "ranking": [16]},
        "validation": {"min_rows": 500, "ctr_band": [0.01, 0.6], "cvr_band": [0.0, 0.9]},
        # a few thousand rows: a high embedding rate learns the items within two epochs
        # (row-wise Adagrad: AUC 0.69 at 0.3, 0.66 at 0.5, 0.59 at 0.1; the oracle 0.75)
        "train": {"batch_size": 256, "epochs": 2, "threads": 1, "lr_embedding": 0.3},
        "gate": {"focus": [focus]},
    })  # fmt: skip


@pytest.mark.slow
def test_a_yaml_contract_for_an_unseen_schema_imports_validates_trains_and_scores(tmp_path):
    cfg = shop_workspace(tmp_path / "ws")
    rng = np.random.default_rng(0)
    train, test = DAY, DAY + dt.timedelta(days=1)
    shop_day(rng, 4000, train).to_csv(tmp_path / "train.csv", index=False)
    shop_day(rng, 3000, test).assign(tags=lambda f: [list(map(int, t.split("|"))) for t in f.tags])\
        .to_parquet(tmp_path / "test.parquet")  # fmt: skip
    contract = dataset_contract(cfg)
    for day, name in ((train, "train.csv"), (test, "test.parquet")):
        import_day(cfg.path("raw"), "custom", [tmp_path / name], day, contract=contract)
        assert validate_day(cfg, day).passed
    table = read_partition(cfg.path("raw"), test)
    assert table.schema.equals(contract.schema())  # the contract's columns only, its types
    assert table["dt"].unique().to_pylist() == [test.isoformat()]  # filled: the files had none

    bundle, trained = train_day(cfg, "mtms", train, None)
    assert trained.rows > 0 and bundle.encoder.contract == contract
    frame = table.to_pandas()
    probs = score(bundle, frame.drop(columns=["clicked", "bought", "req", "dt"]))
    # the next day's rows, as a client sends them: the oracle's AUC is 0.75, chance 0.5
    assert auc(frame["clicked"].to_numpy(), probs["p_ctr"].to_numpy()) > 0.6


def test_importing_custom_files_checks_them_against_the_contract(tmp_path):
    cfg = shop_workspace(tmp_path / "ws")
    contract = dataset_contract(cfg)
    frame = shop_day(np.random.default_rng(1), 50, DAY)
    frame.drop(columns=["price"]).to_csv(tmp_path / "no_price.csv", index=False)
    with pytest.raises(LoaderError, match=r"no_price.csv: missing column\(s\) price$"):
        import_day(cfg.path("raw"), "custom", [tmp_path / "no_price.csv"], DAY, contract=contract)
    frame.assign(tags="3|x").to_csv(tmp_path / "bad_tags.csv", index=False)
    with pytest.raises(LoaderError, match="column 'tags': '3|x' is not ids"):
        import_day(cfg.path("raw"), "custom", [tmp_path / "bad_tags.csv"], DAY, contract=contract)
    frame.assign(slot=1.5).to_csv(tmp_path / "bad_slot.csv", index=False)
    with pytest.raises(LoaderError, match="column 'slot' does not fit int32"):
        import_day(cfg.path("raw"), "custom", [tmp_path / "bad_slot.csv"], DAY, contract=contract)
    with pytest.raises(LoaderError, match="needs its contract"):
        import_day(cfg.path("raw"), "custom", [tmp_path / "bad_slot.csv"], DAY)
    assert not cfg.path("raw").exists()  # nothing half-written
    frame.to_csv(tmp_path / "good.csv", index=False)
    [(_, rows)] = import_day(
        cfg.path("raw"), "custom", [tmp_path / "good.csv"], DAY, "web", contract
    )
    assert rows == 50 and read_partition(cfg.path("raw"), DAY)["channel"].unique().to_pylist() == [
        "web"
    ]


def test_data_of_another_contract_name_is_refused(tmp_path):
    cfg = shop_workspace(tmp_path / "ws")
    shop_day(np.random.default_rng(2), 50, DAY).to_csv(tmp_path / "day.csv", index=False)
    import_day(
        cfg.path("raw"), "custom", [tmp_path / "day.csv"], DAY, contract=dataset_contract(cfg)
    )
    (tmp_path / "ws" / "shop.yaml").write_text(SHOP.replace("shop-logs", "shop-logs-v2"))
    with pytest.raises(ValueError, match="says the data is 'shop-logs', params data.contract"):
        dataset_contract(cfg)
