"""Model bundles: one file holding the model's config, vocabularies and weights.

Layout: a header line `MTMSBUNDLE1 <sha256 of the rest>\\n`, then a torch.save payload
of plain tensors, strings and numbers. Written to a temporary file and renamed, so
a crash never leaves half a bundle; loaded with weights_only=True after the checksum
is verified, so a corrupt or foreign file is a clear error and never unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

from components import atomic
from components.config import ModelConfig
from components.features.encoding import Encoder
from components.models import MODELS, RankingModel

MAGIC = b"MTMSBUNDLE1"


class BundleError(ValueError):
    """A bundle that is missing, corrupt, or not a bundle."""


@dataclass
class Bundle:
    name: str  # key of MODELS
    config: ModelConfig
    encoder: Encoder
    model: RankingModel
    meta: dict = field(default_factory=dict)  # JSON-able: days trained, parent, stage results


def build(name: str, encoder: Encoder, config: ModelConfig, seed: int) -> RankingModel:
    """A freshly initialised model sized by the encoder's vocabularies (deterministic init)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name](encoder.spec, config)


def _payload(bundle: Bundle, body: Path) -> str:
    """Serialise the bundle's body to the file `body`; its sha256. torch.save writes a path
    from C++ (a file-like object would get each tensor as a Python bytes copy: a whole
    table more in memory), then the file is hashed block by block."""
    state = {
        "name": bundle.name,
        "config": bundle.config.model_dump_json(),
        "encoder": bundle.encoder.state(),
        "weights": bundle.model.state_dict(),
        "meta": json.dumps({k: v for k, v in bundle.meta.items() if k != "checksum"}),
    }
    torch.save(state, body)
    del state
    with open(body, "rb") as f:
        return _digest(f)


def _digest(f: BinaryIO) -> str:
    """sha256 of the rest of `f`, read block by block: memory holds a block, not the file."""
    sha = hashlib.sha256()
    while block := f.read(1 << 20):
        sha.update(block)
    return sha.hexdigest()


def _check_finite(bundle: Bundle, path: Path) -> None:
    """A diverged model (NaN or inf weights) is never written: warm-started from, every later
    day would be NaN too, and a NaN champion answers NaN to every request."""
    for name, tensor in bundle.model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise BundleError(
                f"{path}: not saved: parameter {name!r} has {bad} non-finite value(s) "
                "(training diverged: non-finite inputs or a learning rate too high)"
            )


def save(bundle: Bundle, path: Path) -> str:
    """Write the bundle atomically (refused if a weight is NaN or inf); returns its sha256."""
    _check_finite(bundle, Path(path))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # the body goes to a scratch file first (its digest heads the bundle), then is copied
    # behind the header: memory holds a block, not the weights twice more
    with tempfile.TemporaryDirectory(dir=Path(path).parent) as scratch:
        body = Path(scratch) / "body"
        digest = _payload(bundle, body)

        def write(f: BinaryIO) -> None:
            f.write(MAGIC + b" " + digest.encode() + b"\n")
            with open(body, "rb") as src:
                shutil.copyfileobj(src, f, 1 << 20)

        atomic.write_stream(Path(path), write)
    return digest


def checksum(path: Path) -> str:
    """The sha256 recorded in a bundle's header (verified when the bundle is loaded)."""
    with open(path, "rb") as f:
        return f.readline().split()[-1].decode()


def _load_weights(model: RankingModel, weights: dict) -> None:
    """The saved weights; a bundle saved before calibration existed scores uncalibrated,
    and one saved before row-wise Adagrad warm-starts its tables' accumulators at zero."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    newer = [k for k in missing if not k.startswith("calibration.") and not k.endswith("grad_sq")]
    if unexpected or newer:
        model.load_state_dict(weights)  # strict: raises naming the keys


class _Body(io.RawIOBase):
    """A bundle file past its header line, as a file of its own: torch.load's zip reader
    seeks from the start of the archive."""

    def __init__(self, f: BinaryIO, start: int):
        self.f, self.start = f, start
        f.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.f.tell() - self.start

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos + self.start if whence == 0 else pos, whence) - self.start

    def readinto(self, buffer) -> int:
        return self.f.readinto(buffer)


def _verified(path: Path, f: BinaryIO) -> tuple[bytes, int]:
    """(the checksum of the header, where the body starts), once the body's hash matches."""
    parts = f.readline(len(MAGIC) + 80).rstrip(b"\n").split(b" ")
    if len(parts) != 2 or parts[0] != MAGIC:
        raise BundleError(f"{path}: not an mtms bundle")
    start = f.tell()
    if _digest(f).encode() != parts[1]:
        raise BundleError(f"{path}: checksum mismatch (corrupt or truncated bundle)")
    return parts[1], start


def load(path: Path) -> Bundle:
    """Read and verify a bundle; anything wrong is a one-line BundleError."""
    path = Path(path)
    try:
        f = open(path, "rb")  # noqa: SIM115  closed below, whatever happens
    except OSError as err:
        raise BundleError(f"{path}: cannot read bundle ({err.strerror})") from None
    with f:
        digest, start = _verified(path, f)
        name, config, encoder, model, meta = _read(path, _Body(f, start))
    return Bundle(name, config, encoder, model, {**json.loads(meta), "checksum": digest.decode()})


def _read(path: Path, body: BinaryIO) -> tuple[str, ModelConfig, Encoder, RankingModel, str]:
    """A verified body: the model's name, config, encoder, model and (JSON) meta."""
    try:
        state = torch.load(body, weights_only=True)
        config = ModelConfig.model_validate_json(state["config"])
        encoder = Encoder.from_state(state["encoder"])
        model = build(state["name"], encoder, config, seed=0)  # the weights replace the init
        _load_weights(model, state.pop("weights"))
    except Exception as err:  # a verified file that still does not load: say what broke
        reason = str(err).splitlines()[0] if str(err) else ""
        raise BundleError(f"{path}: unreadable bundle ({type(err).__name__}: {reason})") from None
    model.eval()
    return state["name"], config, encoder, model, state["meta"]
