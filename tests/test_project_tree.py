"""Parents equal the sum of their children and World equals the sum of regions, for every preset
(central values, every region and year), as pyam's check_aggregate would check them."""

import numpy as np
import pytest

from project.engine import run_projection
from project.scenario import load_preset, preset_names
from project.variables import INFERENCE_PREFIX, REGIONS, TREE, VARIABLES


@pytest.fixture(scope="module", params=preset_names())
def result(request):
    return run_projection(load_preset(request.param))


def test_parents_equal_sum_of_children(result):
    for parent, children in TREE.items():
        if parent not in result.central:
            continue
        total = sum(result.central[ch] for ch in children if ch in result.central)
        np.testing.assert_allclose(result.central[parent], total, rtol=1e-9, atol=1e-12, err_msg=parent)


def test_inference_equals_sum_of_workloads(result):
    parts = [a for k, a in result.central.items() if k.startswith(INFERENCE_PREFIX)]
    np.testing.assert_allclose(result.central["Energy|Inference"], sum(parts), rtol=1e-9, atol=1e-12)


def test_world_equals_sum_of_regions(result):
    for var, arr in result.central.items():
        d = VARIABLES.get(var)
        if d is not None and not d.additive:
            continue
        if np.isnan(arr[1:]).all():
            continue
        np.testing.assert_allclose(arr[0], arr[1:].sum(axis=0), rtol=1e-9, atol=1e-12, err_msg=var)


def test_every_region_is_in_the_table(result):
    assert set(result.table["region"]) == {"World", *REGIONS.values()}


def test_table_units_match_the_registry(result):
    units = result.table.drop_duplicates("variable").set_index("variable")["unit"]
    for var, unit in units.items():
        if var in VARIABLES:
            assert unit == VARIABLES[var].unit, var
