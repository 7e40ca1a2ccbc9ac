"""The data contract: one declaration of each dataset's log schema.

It is the single source for the simulator's output, the validation suite and the
feature encoder, and it alone decides what is a feature: labels, oracle columns and
meta columns never are.
"""

from __future__ import annotations

import json
from dataclasses import KW_ONLY, asdict, dataclass, field
from enum import Enum

import pyarrow as pa


class Role(str, Enum):
    SPARSE = "sparse"  # one categorical id per row
    MULTI = "multi"  # a list of categorical ids per row
    DENSE = "dense"  # a float
    SCENE = "scene"  # which scene served the impression
    LABEL = "label"  # a 0/1 outcome
    ORACLE = "oracle"  # the simulator's true probability: for evaluation only
    META = "meta"  # bookkeeping: request id, day


FEATURE_ROLES = (Role.SPARSE, Role.MULTI, Role.DENSE)

ARROW_TYPES = {
    "int8": pa.int8(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "string": pa.string(),
    "list<int32>": pa.list_(pa.int32()),
    "list<int64>": pa.list_(pa.int64()),
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # a key of ARROW_TYPES
    role: Role
    _: KW_ONLY
    required: bool = True
    min: float | None = None  # inclusive bounds, checked by validation
    max: float | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.dtype]


@dataclass(frozen=True)
class Contract:
    name: str
    columns: tuple[Column, ...]
    request_id: str = "request_id"
    day: str = "day"
    scene: str = "scene"
    click: str = "click"
    conversion: str = "conversion"
    daction: str | None = None  # the post-click action label, where the data has it
    user: str | None = None  # the user id column: GAUC groups by it
    oracle: dict[str, str] = field(default_factory=dict)  # task -> oracle probability column

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"contract {self.name}: duplicate column names")
        for name in (self.request_id, self.day, self.scene, self.click, self.conversion):
            if name not in names:
                raise ValueError(f"contract {self.name}: column {name!r} is not declared")

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def by_role(self, *roles: Role) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role in roles)

    @property
    def features(self) -> tuple[Column, ...]:
        """The model's inputs; nothing else may be fed to a model."""
        return self.by_role(*FEATURE_ROLES)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.by_role(Role.LABEL))

    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type) for c in self.columns])

    def to_json(self) -> str:
        body = asdict(self)
        body["columns"] = [{**c, "role": c["role"].value} for c in body["columns"]]
        return json.dumps(body, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Contract:
        body = json.loads(text)
        columns = tuple(Column(**{**c, "role": Role(c["role"])}) for c in body.pop("columns"))
        return cls(columns=columns, **body)


def _ids(role: Role, dtype: str, *names: str) -> list[Column]:
    return [Column(n, dtype, role, min=0) for n in names]


SIMULATOR = Contract(
    name="simulator",
    columns=(
        Column("request_id", "int64", Role.META, min=0),
        Column("day", "string", Role.META),
        Column("scene", "string", Role.SCENE),
        *_ids(Role.SPARSE, "int64", "user_id", "ad_id", "advertiser_id", "category_id", "brand_id"),
        Column("gender", "int32", Role.SPARSE, min=0, max=2),
        Column("age_bucket", "int32", Role.SPARSE, min=0, max=6),
        Column("city_tier", "int32", Role.SPARSE, min=0, max=4),
        Column("device_os", "int32", Role.SPARSE, min=0, max=3),
        Column("position", "int32", Role.SPARSE, min=1, max=10),
        Column("hour", "int32", Role.SPARSE, min=0, max=23),
        Column("weekday", "int32", Role.SPARSE, min=0, max=6),
        Column("ad_tags", "list<int32>", Role.MULTI),
        Column("price", "float32", Role.DENSE, min=0),
        Column("ad_age_days", "float32", Role.DENSE, min=0),
        Column("click", "int8", Role.LABEL, min=0, max=1),
        Column("daction", "int8", Role.LABEL, min=0, max=1),
        Column("conversion", "int8", Role.LABEL, min=0, max=1),
        Column("p_click", "float32", Role.ORACLE, min=0, max=1),
        Column("p_cvr", "float32", Role.ORACLE, min=0, max=1),
    ),
    daction="daction",
    user="user_id",
    oracle={"ctr": "p_click", "cvr": "p_cvr"},
)


_ALICCP_SPARSE = (
    "101", "121", "122", "124", "125", "126", "127", "128", "129",
    "205", "206", "207", "210", "216", "508", "509", "702", "853",
    "301", "109_14", "110_14", "127_14", "150_14",
)  # fmt: skip
_ALICCP_DENSE = ("D109_14", "D110_14", "D127_14", "D150_14", "D508", "D509", "D702", "D853")
_ALICCP_RAW_MULTI = ("109_14", "110_14", "127_14", "150_14", "210")
_LABELS = tuple(Column(n, "int8", Role.LABEL, min=0, max=1) for n in ("click", "conversion"))
_META = (Column("request_id", "int64", Role.META, min=0), Column("day", "string", Role.META))
_SCENE = Column("scene", "string", Role.SCENE)

# Ali-CCP as preprocessed by the AITM / torch-rechub scripts: label-encoded fields.
ALICCP = Contract(
    name="aliccp",
    columns=(
        *_META,
        _SCENE,
        *_ids(Role.SPARSE, "int64", *_ALICCP_SPARSE),
        *(Column(n, "float32", Role.DENSE) for n in _ALICCP_DENSE),
        *_LABELS,
    ),
    user="101",
)

# Ali-CCP raw: hashed feature ids; multi-valued user-behaviour fields stay lists,
# the four combination fields carry their value as a dense column.
ALICCP_RAW = Contract(
    name="aliccp-raw",
    columns=(
        *_META,
        _SCENE,
        *_ids(Role.SPARSE, "int64", *(f for f in _ALICCP_SPARSE if f not in _ALICCP_RAW_MULTI)),
        *(Column(f, "list<int64>", Role.MULTI) for f in _ALICCP_RAW_MULTI),
        *(Column(f"D{f}", "float32", Role.DENSE) for f in ("508", "509", "702", "853")),
        *_LABELS,
    ),
    user="101",
)

# AliExpress in the MTReclib layout; one file per country, the country is the scene.
ALIEXPRESS = Contract(
    name="aliexpress",
    columns=(
        *_META,
        Column("search_id", "int64", Role.META),
        _SCENE,
        *_ids(Role.SPARSE, "int64", *(f"categorical_{i}" for i in range(1, 17))),
        *(Column(f"numerical_{i}", "float32", Role.DENSE) for i in range(1, 64)),
        *_LABELS,
    ),
)

CONTRACTS = {c.name: c for c in (SIMULATOR, ALICCP, ALICCP_RAW, ALIEXPRESS)}
