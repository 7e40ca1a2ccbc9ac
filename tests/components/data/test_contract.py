from components.data.contract import CONTRACTS, SIMULATOR, Contract, Role


def test_labels_oracle_and_meta_are_never_features():
    for contract in CONTRACTS.values():
        names = {c.name for c in contract.features}
        assert not names & {"click", "conversion", "daction", "p_click", "p_cvr", "request_id"}
        assert all(c.role in (Role.SPARSE, Role.MULTI, Role.DENSE) for c in contract.features)
    assert {"p_click", "p_cvr"} == {c.name for c in SIMULATOR.by_role(Role.ORACLE)}


def test_contract_round_trips_through_json():
    for contract in CONTRACTS.values():
        assert Contract.from_json(contract.to_json()) == contract


def test_public_contracts_carry_their_documented_fields():
    aliccp = {c.name for c in CONTRACTS["aliccp"].features}
    assert {"101", "301", "109_14", "D853"} <= aliccp
    assert {c.name for c in CONTRACTS["aliccp-raw"].by_role(Role.MULTI)} >= {"109_14", "210"}
    aliexpress = CONTRACTS["aliexpress"]
    assert len(aliexpress.by_role(Role.SPARSE)) == 16
    assert len(aliexpress.by_role(Role.DENSE)) == 63
