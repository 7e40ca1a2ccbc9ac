"""Whether a registered bundle can serve: it answers one example request with probabilities.

A bundle whose checksum holds can still be unable to serve (a model that diverged, an
encoder a newer code version cannot read); rollback and promotion refuse such a version
before moving an alias, and `mtms status` shows it. No MLflow here: the adapter calls it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from components.models.bundle import Bundle
from components.models.scoring import ScoringError, example_row, score, trained_scenes


def probe(bundle: Bundle) -> None:
    """Score an example row of every scene the model trained on (the ones it serves);
    ScoringError if it cannot, or if an answer is not a probability (NaN weights answer NaN)."""
    contract = bundle.encoder.contract
    scenes = trained_scenes(bundle)
    if not scenes:
        raise ScoringError("the model trained on no scene: nothing it could serve")
    rows = pd.DataFrame([example_row(contract, scene) for scene in scenes])
    answers = score(bundle, rows).to_numpy()
    if not (np.isfinite(answers) & (answers >= 0) & (answers <= 1)).all():
        raise ScoringError(f"an example row scores {answers[0].tolist()}: not probabilities")


def sha256(path: Path) -> str:
    """The file's sha256, read in blocks (pickles and bundles can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
