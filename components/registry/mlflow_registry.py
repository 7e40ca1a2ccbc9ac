"""The MLflow adapter: one run per daily run, one model version per registered bundle.

MLflow 3 semantics: aliases (`champion`, `previous`), never stages. Every version carries
its day and bundle checksum as tags, so a rerun after a crash finds its version instead of
registering a duplicate. Everything goes through one MlflowClient bound to the configured
URI; the one fluent call (logging the pyfunc) gets the tracking URI scoped to it.

Failures are one line: every public method runs inside failures.guard (MLflow, database
and HTTP errors as a RegistryError naming the store; short HTTP timeouts for a remote one),
and damaged version files are a RegistryError naming the version and the file, so callers
fall back or stop cleanly. Promotion and rollback verify the target first.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.types import ColSpec, DataType, Schema
from mlflow.types.schema import Array
from mlflow.utils.file_utils import local_file_uri_to_path
from requests import RequestException
from sqlalchemy.exc import SQLAlchemyError

import components
from components.config import Config
from components.data.contract import Contract
from components.models import bundle as bundles
from components.models.bundle import BundleError
from components.models.scoring import OUTPUTS, ScoringError, inputs, score
from components.registry import (
    CHAMPION,
    PREVIOUS,
    DataInput,
    RegistryError,
    Version,
    failures,
    health,
)

LOGGED_NAME = "model"  # the pyfunc's name inside its run
NO_MODEL = "RESOURCE_DOES_NOT_EXIST"  # no such registered model or version
NO_ALIAS = (NO_MODEL, "INVALID_PARAMETER_VALUE")  # MLflow's answer to an unset alias
PYFUNC_SHA = "pyfunc_sha256"  # version tag: the logged pickle, as registered
FAILURES = (MlflowException, SQLAlchemyError, RequestException)  # one line each: failures.py


class BundleModel(mlflow.pyfunc.PythonModel):
    """The served pyfunc: the bundle file is its one artifact, score() its predictions."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.bundle = bundles.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """Bad rows are MLflow's invalid-parameter error: the server answers 400 with the reason."""
        try:
            return score(self.bundle, model_input)
        except ScoringError as err:
            raise MlflowException.invalid_parameter_value(str(err)) from None


def _requirements() -> list[str]:
    """Pinned to this environment: inferring them would load the model (seconds per version).
    What the packaged mtms code imports to load a bundle and score; MLflow brings the rest."""
    import numpy, pyarrow, pydantic, scipy, torch  # noqa: E401, I001

    mods = (mlflow, torch, pd, pyarrow, numpy, pydantic, scipy)
    return [f"{m.__name__}=={m.__version__.split('+')[0]}" for m in mods]


CODE = Path(components.__file__).resolve().parent  # packaged with every version (code_paths)
MLFLOW_TYPES = {  # a contract's Arrow type -> the signature's column type
    "int8": DataType.long, "int32": DataType.long, "int64": DataType.long,
    "float32": DataType.double, "string": DataType.string,
    "list<int32>": Array(DataType.long), "list<int64>": Array(DataType.long),
}  # fmt: skip


def signature(contract: Contract) -> ModelSignature:
    """What a request carries (the scene and every feature, by the contract's types) and
    what it gets back (the three probabilities). Ints are long and floats double, as JSON
    brings them; score() narrows them to the contract's own types and checks their range."""
    columns = [
        ColSpec(MLFLOW_TYPES[contract.column(name).dtype], name) for name in inputs(contract)
    ]
    answers = [ColSpec(DataType.double, name) for name in OUTPUTS]
    return ModelSignature(Schema(columns), Schema(answers))


def _not_advice(record: logging.LogRecord) -> bool:
    """MLflow advice that does not apply (BundleModel pickles by reference: its code travels
    in code_paths), and the note that the input example is checked (every version)."""
    quiet = ("Passing a Python object", "Failed to infer", "Validating input example")
    return not record.getMessage().startswith(quiet)


@contextmanager
def _fluent(uri: str) -> Iterator[None]:
    """The fluent API's global tracking URI (and env var) for one call, then restored; quiet.
    sys.path too: checking the input example loads the model, which puts its code first."""
    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    saved = {key: os.environ.get(key) for key in keys}
    before = mlflow.get_tracking_uri() if mlflow.tracking.is_tracking_uri_set() else None
    logger = logging.getLogger("mlflow.pyfunc")
    logger.addFilter(_not_advice)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    mlflow.set_tracking_uri(uri)
    path = list(sys.path)
    try:
        yield
    finally:
        sys.path[:] = path
        # a URI that came from the env var alone stays env-only: later changes still count
        mlflow.set_tracking_uri(None if before == saved["MLFLOW_TRACKING_URI"] else before)
        logger.removeFilter(_not_advice)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _guarded(method: Callable) -> Callable:
    @functools.wraps(method)
    def call(self: Registry, *args, **kwargs):
        with failures.guard(self.tracking_uri, FAILURES):
            return method(self, *args, **kwargs)

    return call


def _model_id(mv: ModelVersion) -> str | None:
    """The logged model a version registered: its source `models:/<model_id>` (a SQL
    registry does not keep `model_id` itself)."""
    source = mv.source or ""
    return mv.model_id or (
        source.removeprefix("models:/").split("/")[0] if "models:/" in source else None
    )


def _dataset(data: DataInput) -> DatasetInput:
    profile = json.dumps({"num_rows": data.rows}) if data.rows is not None else None
    source = json.dumps({"uri": data.uri})
    found = Dataset(data.name, data.digest, "local", source, profile=profile)
    return DatasetInput(found, [InputTag("mlflow.data.context", data.context)])


def _version(mv: ModelVersion) -> Version:
    tags = dict(mv.tags)  # versions before trained_through was a tag said it with `day`
    through, checksum = tags.get("trained_through", tags.get("day", "")), tags.get("checksum", "")
    return Version(int(mv.version), through, mv.run_id or "", checksum, tuple(mv.aliases), tags)


class Registry:
    """The configured registry: embedded SQLite under paths.registry, or an MLflow server."""

    def __init__(self, cfg: Config) -> None:
        self.name = cfg.registry.model_name
        self.experiment = cfg.registry.experiment
        self._records = cfg.path("runs")  # the day records, named by check_records
        self._folder = cfg.path("registry") if cfg.registry.tracking_uri is None else None
        embedded = f"sqlite:///{self._folder / 'mlflow.db'}" if self._folder else ""
        self._uri = cfg.registry.tracking_uri or embedded
        self._client_: MlflowClient | None = None

    @property
    def tracking_uri(self) -> str:
        return self._uri

    @property
    def _client(self) -> MlflowClient:
        """Created on first use (with the embedded folder), so constructing one is free."""
        if self._client_ is None:
            if self._folder is not None:
                self._folder.mkdir(parents=True, exist_ok=True)
            self._client_ = MlflowClient(tracking_uri=self._uri, registry_uri=self._uri)
        return self._client_

    def ui_command(self) -> str:
        """How to browse runs and versions: a UI on the database, or the server's own."""
        if self._uri.startswith(("http://", "https://")):
            return f"open {self._uri}"
        return f"mlflow ui --backend-store-uri {self._uri} --port 5000"

    def model_uri(self, alias: str = CHAMPION) -> str:
        return f"models:/{self.name}@{alias}"

    def serve_command(
        self, host: str, port: int, alias: str = CHAMPION
    ) -> tuple[list[str], dict[str, str]]:
        """argv and env of the MLflow scoring server (what `mtms serve` runs) in this project's
        environment (env-manager local). MLflow starts `uvicorn` from PATH, so this Python's
        bin folder leads it; the repo joins PYTHONPATH so BundleModel unpickles anywhere."""
        argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", self.model_uri(alias)]
        argv += ["--env-manager", "local", "-h", host, "-p", str(port)]
        join = lambda *parts: os.pathsep.join(p for p in parts if p)  # noqa: E731
        root = str(Path(components.__file__).resolve().parents[1])
        env = {**os.environ, "MLFLOW_TRACKING_URI": self._uri}
        env["PATH"] = join(str(Path(sys.executable).parent), os.environ.get("PATH"))
        env["PYTHONPATH"] = join(root, os.environ.get("PYTHONPATH"))
        env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # one bar per artifact otherwise
        return argv, env

    def _experiment_id(self) -> str:
        found = self._client.get_experiment_by_name(self.experiment)
        if found is None:
            location = (self._folder / "artifacts").as_uri() if self._folder else None
            try:
                return self._client.create_experiment(self.experiment, location)
            except MlflowException:  # created meanwhile by another process
                found = self._client.get_experiment_by_name(self.experiment)
                if found is None:
                    raise
        if found.lifecycle_stage != "active":
            raise RegistryError(f"MLflow experiment {self.experiment!r} is deleted; restore it")
        return found.experiment_id

    @_guarded
    def log_run(
        self, day: dt.date, params: dict[str, str | int | float], metrics: dict[str, float],
        tags: dict[str, str], artifacts: dict[str, str], inputs: Iterable[DataInput] = (),
    ) -> str:  # fmt: skip
        """One finished run `day=YYYY-MM-DD`; NaN metrics (nothing to measure) are left out;
        `inputs` are its datasets (MLflow's run inputs: the training window, the judged day)."""
        tags = {"day": day.isoformat(), **tags}
        run = self._client.create_run(self._experiment_id(), tags=tags, run_name=f"day={day}")
        run_id, now = run.info.run_id, int(time.time() * 1000)
        kept = [Metric(k, float(v), now, 0) for k, v in metrics.items() if not math.isnan(v)]
        given = [Param(k, str(v)) for k, v in params.items()]
        try:
            for i in range(0, max(len(kept), len(given)), 100):  # MLflow's batch limit
                self._client.log_batch(run_id, metrics=kept[i : i + 100], params=given[i : i + 100])
            for name, text in artifacts.items():
                self._client.log_text(run_id, text, name)
            if datasets := [_dataset(d) for d in inputs]:
                self._client.log_inputs(run_id, datasets=datasets)
        except BaseException:
            self._client.set_terminated(run_id, "FAILED")
            raise
        self._client.set_terminated(run_id, "FINISHED")
        return run_id

    @_guarded
    def register(self, run_id: str, bundle_path: Path, tags: dict[str, str]) -> Version:
        """A new version of the model: a pyfunc in `run_id` carrying the (verified) bundle."""
        bundle = bundles.load(bundle_path)  # a corrupt file never becomes a version
        run_day = self._client.get_run(run_id).data.tags.get("day", "")  # as on the run
        through, checksum = bundle.meta["day"], bundle.meta["checksum"]
        tags = {**tags, "day": run_day, "trained_through": through, "checksum": checksum}
        description = tags.pop("description", None)  # the version's text, not a tag
        # scoped for both calls: the SQL registry resolves a models:/ source via the global URI
        with _fluent(self._uri):
            with mlflow.start_run(run_id=run_id):  # resumed, FINISHED again on exit
                info = mlflow.pyfunc.log_model(
                    name=LOGGED_NAME, python_model=BundleModel(),
                    artifacts={"bundle": str(bundle_path)}, pip_requirements=_requirements(),
                    code_paths=[str(CODE)], signature=signature(bundle.encoder.contract),
                    input_example=health.example_rows(bundle),
                )  # fmt: skip
            source = self._client.get_logged_model(info.model_id).artifact_location
            pickle = info.flavors["python_function"]["python_model"]
            tags[PYFUNC_SHA] = health.sha256(self._fetch(source, pickle, "the logged model"))
            self._ensure_model()
            mv = self._client.create_model_version(
                self.name, info.model_uri, run_id, tags=tags, model_id=info.model_id,
                description=description,
            )  # fmt: skip
        return _version(mv)

    def _ensure_model(self) -> None:
        try:
            self._client.create_registered_model(self.name)
        except MlflowException as err:
            if err.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise

    @_guarded
    def versions(self) -> list[Version]:
        """Every version, newest first."""
        out = [_version(mv) for mv in self._model_versions()]
        return sorted(out, key=lambda v: v.number, reverse=True)

    def find(self, day: dt.date, checksum: str | None = None) -> Version | None:
        """The newest version of `day` (and `checksum`): a rerun reuses it, no duplicate."""
        for version in self.versions():
            if version.trained_through == day.isoformat() and checksum in (None, version.checksum):
                return version
        return None

    @_guarded
    def get(self, number: int) -> Version:
        try:
            return _version(self._client.get_model_version(self.name, str(number)))
        except MlflowException as err:
            if err.error_code != NO_MODEL:
                raise
        raise RegistryError(f"model {self.name!r} has no version {number}")

    def _alias(self, alias: str) -> Version | None:
        try:
            return _version(self._client.get_model_version_by_alias(self.name, alias))
        except MlflowException as err:
            if err.error_code not in NO_ALIAS:
                raise
        return None

    @_guarded
    def champion(self) -> Version | None:
        return self._alias(CHAMPION)

    @_guarded
    def by_alias(self, alias: str) -> Version | None:
        """The version an alias names (None when the alias is not set)."""
        return self._alias(alias)

    @_guarded
    def previous(self) -> Version | None:
        return self._alias(PREVIOUS)

    @_guarded
    def promote(self, number: int) -> None:
        """`number` becomes champion; the old champion becomes previous and is recorded."""
        target, current = self.get(number), self.champion()
        if current is not None and current.number == target.number:
            return
        self._servable(target, f"cannot promote version {number}")
        name = self.name
        if "rolled_back" in target.tags:  # promoted again after a rollback
            self._client.delete_model_version_tag(name, str(number), "rolled_back")
        if current is not None:  # first the record, then the aliases: champion is never unset
            self._client.set_model_version_tag(name, str(number), "replaced", str(current.number))
            self._client.set_registered_model_alias(name, PREVIOUS, str(current.number))
        elif "replaced" in target.tags:  # it replaces nothing this time
            self._client.delete_model_version_tag(name, str(number), "replaced")
        self._client.set_registered_model_alias(name, CHAMPION, str(number))

    @_guarded
    def rollback(self) -> Version:
        """Champion back to `previous`; previous back to what that version had replaced."""
        back, current = self.previous(), self.champion()
        if back is None:
            raise RegistryError("no previous champion to roll back to")
        stays = f"; the champion stays version {current.number}" if current else ""
        self._servable(back, f"cannot roll back to version {back.number}", stays)
        name = self.name
        if current is not None and current.number != back.number:  # equal: a resumed rollback
            self._client.set_model_version_tag(name, str(current.number), "rolled_back", "true")
        self._client.set_registered_model_alias(name, CHAMPION, str(back.number))
        older = back.tags.get("replaced")
        if older and older != str(back.number):
            self._client.set_registered_model_alias(name, PREVIOUS, older)
        else:
            self._client.delete_registered_model_alias(name, PREVIOUS)
        return self.get(back.number)

    def _servable(self, version: Version, refusal: str, then: str = "") -> None:
        """Verified before any alias moves: a version that cannot serve never becomes champion."""
        try:
            self.verify(version)
        except RegistryError as err:
            raise RegistryError(f"{refusal}: {err}{then}") from None

    def _fetch(self, source: str, path: str, owner: str) -> Path:
        """A local copy of one file of a logged model (the file itself with a local store)."""
        try:
            return Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"{source.rstrip('/')}/{path}", tracking_uri=self._uri
                )
            )
        except (MlflowException, OSError) as err:
            reason = failures.one_line(err)
            raise RegistryError(f"{owner}: {path} is missing at {source} ({reason})") from err

    def _flavor(self, version: Version) -> tuple[str, dict]:
        """Where the version's files are, and its pyfunc flavor as its MLmodel file says."""
        source = self._client.get_model_version_download_uri(self.name, str(version.number))
        mlmodel = self._fetch(source, "MLmodel", f"version {version.number}")
        try:
            flavor = Model.load(mlmodel).flavors["python_function"]
            flavor["artifacts"]["bundle"]["path"].strip()  # where the bundle is: checked once
        except (yaml.YAMLError, KeyError, TypeError, AttributeError, ValueError) as err:
            reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            raise RegistryError(
                f"version {version.number}: its MLmodel at {source} is garbled ({reason})"
            ) from err
        return source, flavor

    @_guarded
    def bundle_path(self, version: Version) -> Path:
        """A local copy of the version's bundle whose checksum header matches the version's;
        missing or garbled files are a RegistryError naming the version and the file."""
        source, flavor = self._flavor(version)
        return self._bundle(source, version, flavor)

    def _bundle(self, source: str, version: Version, flavor: dict) -> Path:
        owner = f"version {version.number}"
        local = self._fetch(source, flavor["artifacts"]["bundle"]["path"], owner)
        try:
            recorded = bundles.checksum(local)
        except (OSError, IndexError, UnicodeDecodeError):
            recorded = None
        if recorded is None or not re.fullmatch(r"[0-9a-f]{64}", recorded):
            raise RegistryError(f"version {version.number}: its bundle {local} is not a bundle")
        if recorded != version.checksum:
            raise RegistryError(f"version {version.number}'s bundle does not match its checksum")
        return local

    @_guarded
    def verify(self, version: Version) -> Path:
        """The version's bundle once proven servable: its files intact (the bundle's checksum,
        the pyfunc pickle as registered), the bundle loads, and example rows score."""
        return self._verified(version)[0]

    @_guarded
    def load_verified(self, version: Version) -> bundles.Bundle:
        """The version's bundle, loaded once and proven servable as `verify` proves it."""
        return self._verified(version)[1]

    def _verified(self, version: Version) -> tuple[Path, bundles.Bundle]:
        source, flavor = self._flavor(version)
        path = self._bundle(source, version, flavor)
        recorded = version.tags.get(PYFUNC_SHA)  # absent on versions registered before it
        pickle = flavor.get("python_model", "python_model.pkl")
        owner = f"version {version.number}"
        if recorded and health.sha256(self._fetch(source, pickle, owner)) != recorded:
            raise RegistryError(
                f"version {version.number}: {pickle} does not match the {PYFUNC_SHA} recorded "
                "at registration (replaced since)"
            )
        try:
            bundle = bundles.load(path)
            health.probe(bundle)
        except BundleError as err:
            raise RegistryError(f"version {version.number} cannot be loaded: {err}") from None
        except ScoringError as err:
            raise RegistryError(f"version {version.number} cannot score: {err}") from None
        return path, bundle

    @_guarded
    def check_records(self, numbers: Iterable[int]) -> None:
        """Stop when the day records name versions this registry never had: an emptied or
        replaced mlflow.db would otherwise register the next candidate as a "first" v1."""
        recorded = max(numbers, default=None)
        if recorded is None:
            return
        newest = max((v.number for v in self.versions()), default=None)
        if newest is not None and newest >= recorded:
            return
        has = "none" if newest is None else f"only up to v{newest}"
        raise RegistryError(
            f"the day records in {self._records} name versions up to v{recorded}, but the "
            f"registry at {self._uri} has {has} of model {self.name!r}: restore mlflow.db or "
            "point registry.tracking_uri at the right store"
        )

    @_guarded
    def tidy(self) -> list[str]:
        """What killed runs left in the store: a run still RUNNING is marked KILLED; a logged
        model no version points at (a kill between log_model and registration, or a full
        disk during the copy) is deleted, with its files on a local artifact store. Call it
        holding the run lock: no daily run is writing then. One line per thing cleaned."""
        found = self._client.get_experiment_by_name(self.experiment)
        if found is None:
            return []
        done = []
        stuck = "attributes.status = 'RUNNING'"
        for run in self._client.search_runs([found.experiment_id], stuck, max_results=1000):
            self._client.set_terminated(run.info.run_id, "KILLED")
            done.append(f"marked MLflow run {run.info.run_name or run.info.run_id} KILLED")
        used = {_model_id(mv) for mv in self._model_versions()}
        for model in self._logged_models(found.experiment_id):
            if model.model_id in used:
                continue
            self._client.delete_logged_model(model.model_id)
            where = model.artifact_location or ""
            if where.startswith("file:"):  # a server's store: `mlflow gc` frees the files
                shutil.rmtree(local_file_uri_to_path(where), ignore_errors=True)
            done.append(f"deleted unregistered logged model {model.model_id} ({model.status})")
        return done

    def _model_versions(self) -> list[ModelVersion]:
        out, token = [], None
        while True:
            page = self._client.search_model_versions(f"name='{self.name}'", page_token=token)
            out += list(page)
            if not (token := page.token):
                return out

    def _logged_models(self, experiment_id: str) -> list:
        out, token = [], None
        while True:
            page = self._client.search_logged_models([experiment_id], page_token=token)
            out += list(page)
            if not (token := page.token):
                return out
