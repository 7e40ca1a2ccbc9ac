"""The scoring server app: MLflow's wire protocol on a real tiny bundle, and its hardening."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import numpy as np
import pandas as pd
import pytest
import torch

from components.data.partitions import read_partition
from components.models import bundle as bundles
from components.models.scoring import score
from components.serving import MAX_BODY
from components.serving.server import Served, build_app
from tests.helpers import request_rows

JSON = {"Content-Type": "application/json"}


class Client:
    """The app through httpx's ASGI transport, called synchronously (no socket, no thread)."""

    def __init__(self, app) -> None:
        self.transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://t") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post_all(self, payloads: list[dict]) -> list[httpx.Response]:
        """Every payload POSTed at once: the server batches those that arrive together."""

        async def send() -> list[httpx.Response]:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://t") as c:
                return await asyncio.gather(
                    *(c.post("/invocations", json=p, headers=JSON) for p in payloads)
                )

        return asyncio.run(send())


@pytest.fixture(scope="module")
def served(tiny_world):
    """The day-1 bundle (trained on feed, search and video rows: mall starts on day 7) behind
    the app, and 50 request rows of day 2."""
    cfg, paths = tiny_world
    bundle = bundles.load(paths[1])
    day2 = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=2))
    _, rows = request_rows(bundle, day2, 50)
    app = build_app(bundle, Served(7, bundle.meta["day"], bundle.meta["checksum"]))
    return bundle, rows, Client(app)


def one_row(rows: pd.DataFrame, **change) -> dict:
    return {**json.loads(rows.head(1).to_json(orient="records"))[0], **change}


def post(client: Client, payload: object, headers: dict | None = None):
    return client.post("/invocations", content=json.dumps(payload), headers=headers or JSON)


def formats(rows: pd.DataFrame) -> dict[str, dict]:
    """The same rows in each of MLflow's JSON formats."""
    records = json.loads(rows.to_json(orient="records"))
    columns = {c: [r[c] for r in records] for c in rows.columns}
    split = {"columns": list(rows.columns), "data": [list(r.values()) for r in records]}
    return {
        "dataframe_records": {"dataframe_records": records},
        "dataframe_split": {"dataframe_split": {**split, "index": list(range(len(records)))}},
        "instances": {"instances": records},
        "inputs (columns)": {"inputs": columns},
        "instances (columns), params": {"instances": columns, "params": {}},
    }


@pytest.mark.parametrize(
    "name",
    ["dataframe_records", "dataframe_split", "instances", "inputs (columns)",
     "instances (columns), params"],
)  # fmt: skip
def test_every_mlflow_format_scores_like_score(served, name):
    bundle, rows, client = served
    answer = post(client, formats(rows)[name])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    served_rows = pd.DataFrame(answer.json()["predictions"])
    local = score(bundle, rows)
    assert list(served_rows.columns) == ["p_ctr", "p_cvr", "p_ctcvr"]
    np.testing.assert_allclose(served_rows.to_numpy(), local.to_numpy(), rtol=1e-12)


def test_empty_request_and_charset_and_health_routes(served):
    bundle, rows, client = served
    assert post(client, {"dataframe_records": []}).json() == {"predictions": []}
    utf8 = {"Content-Type": "application/json; charset=UTF-8"}
    assert post(client, {"dataframe_records": [one_row(rows)]}, utf8).status_code == 200
    for path in ("/ping", "/health"):
        assert client.get(path).status_code == 200
    assert client.get("/version").text.count(".") >= 1
    assert client.get("/model").json() == {
        "model": "mtms", "version": 7, "day": bundle.meta["day"],
        "checksum": bundle.meta["checksum"], "scenes": ["feed", "search", "video"],
    }  # fmt: skip


def rows_payload(rows: pd.DataFrame, **change) -> bytes:
    return json.dumps({"dataframe_records": [one_row(rows, **change)]}).encode()


async def chunks(parts: list[bytes]):
    """A body sent in chunks with no Content-Length: only counting while reading catches it."""
    for part in parts:
        yield part


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


# Each: what is sent (method, path, headers, body built from the rows), status, error code.
MALFORMED = {
    "declared body over the limit": (
        "POST", "/invocations", {**JSON, "Content-Length": str(MAX_BODY + 1)},
        lambda r: b"{" + b" " * MAX_BODY + b"}", 413, "REQUEST_TOO_LARGE"),
    "streamed body over the limit": (
        "POST", "/invocations", JSON,
        lambda r: chunks([b'{"dataframe_records": ['] + [b" " * 65536] * 17 + [b"]}"]),
        413, "REQUEST_TOO_LARGE"),
    "no content type": ("POST", "/invocations", {}, rows_payload, 415, "UNSUPPORTED_MEDIA_TYPE"),
    "csv": ("POST", "/invocations", {"Content-Type": "text/csv"}, lambda r: b"scene\nfeed\n",
            415, "UNSUPPORTED_MEDIA_TYPE"),
    "latin-1 charset": ("POST", "/invocations",
                        {"Content-Type": "application/json; charset=latin-1"}, rows_payload,
                        415, "UNSUPPORTED_MEDIA_TYPE"),
    "truncated JSON": ("POST", "/invocations", JSON, lambda r: b'{"dataframe_records": [',
                       400, "BAD_REQUEST"),
    "not UTF-8": ("POST", "/invocations", JSON, lambda r: b'{"\xff\xfe": 1}', 400, "BAD_REQUEST"),
    "nesting 200k deep": ("POST", "/invocations", JSON,
                          lambda r: ('{"dataframe_records": ' + deep(200_000) + "}").encode(),
                          400, "BAD_REQUEST"),
    "NaN literal": ("POST", "/invocations", JSON,
                    lambda r: rows_payload(r).replace(b'"price":', b'"price":NaN,"x":'),
                    400, "BAD_REQUEST"),
    "5,000-digit integer": ("POST", "/invocations", JSON,
                            lambda r: b'{"dataframe_records": [{"user_id": ' + b"9" * 5000 + b"}]}",
                            400, "BAD_REQUEST"),
    "a list, not an object": ("POST", "/invocations", JSON, lambda r: b"[1, 2]", 400,
                              "BAD_REQUEST"),
    "no format key": ("POST", "/invocations", JSON, lambda r: b"{}", 400, "BAD_REQUEST"),
    "two format keys": ("POST", "/invocations", JSON,
                        lambda r: b'{"dataframe_records": [], "inputs": []}', 400, "BAD_REQUEST"),
    "unknown key of 100 KB": ("POST", "/invocations", JSON,
                              lambda r: json.dumps({"dataframe_records": [], "k" * 100_000: 1})
                              .encode(), 400, "BAD_REQUEST"),
    "records not a list": ("POST", "/invocations", JSON,
                           lambda r: json.dumps({"dataframe_records": one_row(r)}).encode(),
                           400, "BAD_REQUEST"),
    "a record not an object": ("POST", "/invocations", JSON,
                               lambda r: b'{"dataframe_records": [[1, 2, 3]]}', 400,
                               "BAD_REQUEST"),
    "split rows of the wrong width": (
        "POST", "/invocations", JSON,
        lambda r: b'{"dataframe_split": {"columns": ["scene", "user_id"], "data": [["feed"]]}}',
        400, "BAD_REQUEST"),
    "split naming a column twice": (
        "POST", "/invocations", JSON,
        lambda r: b'{"dataframe_split": {"columns": ["scene", "scene"], "data": [[1, 2]]}}',
        400, "BAD_REQUEST"),
    "columns of different lengths": ("POST", "/invocations", JSON,
                                     lambda r: b'{"inputs": {"scene": ["feed"], "hour": [1, 2]}}',
                                     400, "BAD_REQUEST"),
    "a missing feature": ("POST", "/invocations", JSON,
                          lambda r: b'{"dataframe_records": [{"scene": "feed"}]}', 400,
                          "INVALID_PARAMETER_VALUE"),
    "true as a user id": ("POST", "/invocations", JSON, lambda r: rows_payload(r, user_id=True),
                          400, "INVALID_PARAMETER_VALUE"),
    "price inf (1e400)": ("POST", "/invocations", JSON,
                          lambda r: rows_payload(r, price=0.5).replace(b"0.5", b"1e400"),
                          400, "INVALID_PARAMETER_VALUE"),
    "price -inf": ("POST", "/invocations", JSON,
                   lambda r: rows_payload(r, price=0.5).replace(b"0.5", b"-1e999"), 400,
                   "INVALID_PARAMETER_VALUE"),
    "price 1e308 (inf as float32)": ("POST", "/invocations", JSON,
                                     lambda r: rows_payload(r, price=1e308), 400,
                                     "INVALID_PARAMETER_VALUE"),
    "a 100 KB string for a price": ("POST", "/invocations", JSON,
                                    lambda r: rows_payload(r, price="9" * 100_000), 400,
                                    "INVALID_PARAMETER_VALUE"),
    "an id over int64": ("POST", "/invocations", JSON, lambda r: rows_payload(r, ad_id=2**70),
                         400, "INVALID_PARAMETER_VALUE"),
    "a list nested in a list column": ("POST", "/invocations", JSON,
                                       lambda r: rows_payload(r, ad_tags=[[1], [2]]), 400,
                                       "INVALID_PARAMETER_VALUE"),
    "a price nested 500 deep": ("POST", "/invocations", JSON,
                                lambda r: rows_payload(r, price=json.loads(deep(500))), 400,
                                "INVALID_PARAMETER_VALUE"),
    "an unknown scene": ("POST", "/invocations", JSON, lambda r: rows_payload(r, scene="radio"),
                         400, "INVALID_PARAMETER_VALUE"),
    "a scene it never trained on": ("POST", "/invocations", JSON,
                                    lambda r: rows_payload(r, scene="mall"), 400,
                                    "INVALID_PARAMETER_VALUE"),
    "a 100 KB scene name": ("POST", "/invocations", JSON,
                            lambda r: rows_payload(r, scene="s" * 100_000), 400,
                            "INVALID_PARAMETER_VALUE"),
    "GET /invocations": ("GET", "/invocations", {}, lambda r: None, 405, "METHOD_NOT_ALLOWED"),
    "PUT /ping": ("PUT", "/ping", JSON, lambda r: b"{}", 405, "METHOD_NOT_ALLOWED"),
    "an unknown path": ("POST", "/score", JSON, rows_payload, 404, "NOT_FOUND"),
}  # fmt: skip


@pytest.mark.faults
@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_requests_get_a_short_json_4xx(served, kind):
    _, rows, client = served
    method, path, headers, body, status, code = MALFORMED[kind]
    answer = client.request(method, path, headers=headers, content=body(rows))
    assert answer.status_code == status, answer.text[:300]
    assert len(answer.content) <= 1024
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()
    assert set(error) == {"error_code", "message"} and error["error_code"] == code
    message = error["message"]
    assert "\n" not in message and "Traceback" not in message and ".py" not in message
    assert "9" * 100 not in message and "s" * 100 not in message and "k" * 100 not in message


@pytest.mark.faults
def test_the_scoring_errors_say_what_is_wrong(served):
    _, rows, client = served
    said = lambda **change: post(client, {"dataframe_records": [one_row(rows, **change)]}).json()  # noqa: E731
    assert said(user_id=True)["message"] == (
        "column 'user_id' holds true/false where int64 is expected"
    )
    assert said(scene="mall")["message"] == (
        "scene(s) mall: the model never trained on rows of them (trained on feed, search, video)"
    )
    assert said(price=1e308)["message"].startswith("column 'price' has 1 non-finite value(s)")


@pytest.mark.faults
def test_a_non_finite_prediction_is_a_500_never_a_200_with_nan(served, tiny_world):
    _, rows, _ = served
    broken = bundles.load(tiny_world[1][1])
    with torch.no_grad():
        next(broken.model.parameters()).fill_(float("nan"))
    answer = post(Client(build_app(broken)), {"dataframe_records": [one_row(rows)]})
    assert answer.status_code == 500 and b"NaN" not in answer.content
    assert answer.json() == {
        "error_code": "INTERNAL_ERROR",
        "message": "the model produced a non-finite prediction",
    }


def test_a_smaller_body_limit_is_kept(served):
    bundle, rows, _ = served
    client = Client(build_app(bundle, max_body=2048))
    assert post(client, {"dataframe_records": [one_row(rows)]}).status_code == 200
    big = post(client, {"dataframe_records": [one_row(rows)] * 20})
    assert big.status_code == 413
    assert big.json()["message"] == "the body is over 2048 bytes"


def test_concurrent_requests_are_scored_together_each_with_its_own_answer(served):
    """Good requests batched with refused ones still score like score() on their own rows;
    each refused one gets its own reason."""
    bundle, rows, client = served
    records = json.loads(rows.to_json(orient="records"))
    bad = {3: {"user_id": True}, 11: {"scene": "mall"}, 20: {"price": 1e308}}
    payloads = [{"dataframe_records": [{**r, **bad.get(i, {})}]} for i, r in enumerate(records)]
    payloads.append({"dataframe_records": records[:7]})  # a bigger request among them
    answers = client.post_all(payloads)
    alone = score(bundle, rows)
    for i, answer in enumerate(answers[:-1]):
        if i in bad:
            assert answer.status_code == 400
            assert answer.json()["message"].startswith(("column", "scene(s) mall"))
            continue
        assert answer.status_code == 200, answer.text
        got = pd.DataFrame(answer.json()["predictions"]).to_numpy()
        np.testing.assert_allclose(got, alone.iloc[[i]].to_numpy(), rtol=1e-5)
    got = pd.DataFrame(answers[-1].json()["predictions"]).to_numpy()
    np.testing.assert_allclose(got, alone.iloc[:7].to_numpy(), rtol=1e-5)


def test_a_batch_splits_back_in_order_and_isolates_refusals(served):
    from components.models.scoring import inputs
    from components.serving.batching import score_all
    from components.serving.protocol import rows as read

    bundle, rows, _ = served
    names = inputs(bundle.encoder.contract)

    def asked(frame: pd.DataFrame):
        return read({"dataframe_split": json.loads(frame.to_json(orient="split"))}, names)

    frames = [rows.iloc[:5], rows.iloc[5:6].assign(scene="radio"), rows.iloc[6:20]]
    first, refused, rest = score_all(bundle, [asked(f) for f in frames])
    assert str(refused).startswith("unknown scene(s) radio")
    for frame, out in [(frames[0], first), (frames[2], rest)]:
        np.testing.assert_allclose(out, score(bundle, frame).to_numpy(), rtol=1e-5)
    together = score_all(bundle, [asked(frames[0]), asked(frames[2])])
    for frame, out in zip([frames[0], frames[2]], together, strict=True):
        np.testing.assert_allclose(out, score(bundle, frame).to_numpy(), rtol=1e-5)


def test_a_followed_alias_swaps_the_bundle_and_a_failed_look_keeps_it(tiny_world, caplog):
    """The follower's three answers: the registry cannot be read (serve on), nothing newer
    (serve on), a newer version (served from then on, scores its own numbers)."""
    cfg, paths = tiny_world
    old, new = bundles.load(paths[0]), bundles.load(paths[1])
    day2 = read_partition(cfg.path("raw"), cfg.simulator.start + dt.timedelta(days=2))
    _, rows = request_rows(new, day2, 20)
    rows = rows[rows["scene"] != "video"]  # day 0's bundle trained on feed and search only
    looks = []

    def follow(now: Served):
        looks.append(now.version)
        if len(looks) == 1:
            raise ConnectionError("registry down")
        return None if len(looks) == 2 else (new, Served(2, new.meta["day"], new.meta["checksum"]))

    app = build_app(old, Served(1, old.meta["day"], old.meta["checksum"]), follow=follow, every=60)
    client = Client(app)
    records = {"dataframe_records": json.loads(rows.to_json(orient="records"))}
    follower = app.state.follower
    for _ in range(2):  # the failed look, then nothing newer: still version 1
        follower.look()  # what its thread does every `every` seconds, run here
        assert client.get("/model").json()["version"] == 1
    assert "alias not followed (registry down); still serving version 1" in caplog.text
    before = client.post("/invocations", json=records, headers=JSON).json()["predictions"]
    follower.look()
    assert client.get("/model").json()["checksum"] == new.meta["checksum"]
    after = pd.DataFrame(
        client.post("/invocations", json=records, headers=JSON).json()["predictions"]
    )
    np.testing.assert_allclose(after.to_numpy(), score(new, rows).to_numpy(), rtol=1e-6)
    assert pd.DataFrame(before).to_numpy().tolist() != after.to_numpy().tolist()
    assert looks == [1, 1, 1]
