"""Fixtures of the model tests."""

import pytest

from components.data.partitions import read_partition
from components.features.encoding import Encoder
from components.validation.quarantine import dataset_contract


@pytest.fixture(scope="module")
def encoded(sim_days):
    """(config, encoder fitted on the first simulated day, that day encoded)."""
    cfg = sim_days
    table = read_partition(cfg.path("raw"), cfg.simulator.start)
    encoder = Encoder(dataset_contract(cfg), cfg.model.scenes)
    encoder.fit(table)
    return cfg, encoder, encoder.encode(table)[0]
