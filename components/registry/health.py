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


def example_rows(bundle: Bundle) -> pd.DataFrame:
    """One request row per scene the model serves (the probe's request, and the registered
    pyfunc's input example); their ids are unseen, so they score as OOV."""
    contract = bundle.encoder.contract
    return pd.DataFrame([example_row(contract, scene) for scene in trained_scenes(bundle)])


def probe(bundle: Bundle) -> None:
    """Score an example row of every scene the model trained on (the ones it serves);
    ScoringError if it cannot, or if an answer is not a probability (NaN weights answer NaN)."""
    if not trained_scenes(bundle):
        raise ScoringError("the model trained on no scene: nothing it could serve")
    answers = score(bundle, example_rows(bundle)).to_numpy()
    if not (np.isfinite(answers) & (answers >= 0) & (answers <= 1)).all():
        raise ScoringError(f"an example row scores {answers[0].tolist()}: not probabilities")


def sha256(path: Path) -> str:
    """The file's sha256, read in blocks (pickles and bundles can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
