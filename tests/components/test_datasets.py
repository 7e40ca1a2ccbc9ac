"""`mtms init`'s params: the shipped params.yaml with a dataset's keys rewritten in place."""

from __future__ import annotations

import pytest

from components.config import load
from components.datasets import DATASETS, InitError, render, write
from tests.helpers import REPO

TEMPLATE = REPO / "params.yaml"


@pytest.mark.parametrize("name", [n for n in DATASETS if n not in ("simulator", "custom")])
def test_each_dataset_gets_loadable_params_with_its_scenes_and_focus(tmp_path, name):
    cfg = write(TEMPLATE, tmp_path / "params.yaml", name, 40_000, (), force=False)
    assert cfg.data.dataset == name and cfg.model.scenes == DATASETS[name].scenes
    focus = {(f.scene, f.task) for f in cfg.gate.focus}
    assert focus == {(s, t) for s in cfg.model.scenes for t in ("ctr", "cvr")}
    assert cfg.validation.min_rows == 2000  # a twentieth of a day
    # every line the dataset does not change is the template's, comment and all
    template = TEMPLATE.read_text().splitlines()
    written = (tmp_path / "params.yaml").read_text().splitlines()
    kept = [line for line in written if line in template]
    assert len(kept) >= len(template) - 8
    assert all(("#" in w) == ("#" in t) for w, t in zip(written[4:], template, strict=False)
               if w.split(":")[0] == t.split(":")[0] and ":" in t)  # fmt: skip


def test_thresholds_scale_with_the_day_and_never_fall_below_a_floor(tmp_path):
    big = write(TEMPLATE, tmp_path / "big.yaml", "aliccp", 3_000_000, (), force=False)
    small = write(TEMPLATE, tmp_path / "small.yaml", "aliccp", 500, (), force=False)
    need = lambda cfg, task: {f.min_rows for f in cfg.gate.focus if f.task == task}  # noqa: E731
    assert need(big, "ctr") == {100_000} and need(big, "cvr") == {3900}
    assert need(small, "ctr") == {200} and need(small, "cvr") == {50}
    assert small.validation.min_rows == 100


def test_the_simulator_is_the_template_itself(tmp_path):
    write(TEMPLATE, tmp_path / "params.yaml", "simulator", None, (), force=False)
    assert load(tmp_path / "params.yaml").model_dump(exclude={"root"}) == load(TEMPLATE).model_dump(
        exclude={"root"}
    )


def test_scenes_can_be_named_and_a_file_is_never_replaced_unasked(tmp_path):
    out = tmp_path / "params.yaml"
    cfg = write(TEMPLATE, out, "aliccp-raw", None, ("301_9", "301_8"), force=False)
    assert cfg.model.scenes == ("301_9", "301_8")
    before = out.read_text()
    with pytest.raises(InitError, match="exists; pass --force"):
        write(TEMPLATE, out, "aliexpress", None, (), force=False)
    with pytest.raises(InitError, match="named twice"):
        write(TEMPLATE, out, "aliexpress", None, ("nl", "nl"), force=True)
    with pytest.raises(InitError, match="unknown dataset 'criteo'"):
        render(TEMPLATE.read_text(), "criteo", None, ())
    assert out.read_text() == before  # refused: the file is as it was
    write(TEMPLATE, out, "aliexpress", None, (), force=True)
    assert load(out).data.dataset == "aliexpress"
