"""The codelist (definitions/, nomenclature format) covers every variable, unit and region that
every shipped preset emits, and is what scripts/build_definitions.py generates."""

import importlib.util
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from project.engine import run_projection
from project.export import iamc_table
from project.scenario import load_preset, preset_names

ROOT = Path(__file__).resolve().parents[1]
DEFS = ROOT / "definitions"
NOMENCLATURE_SKIP = ("nomenclature-iamc is not installed: installing it here would downgrade pandas 3 to 2.3 "
                     "(it pins pandas < 3), so it is not in the [test] extra; docs/exports.md says how to run "
                     "this check in its own environment")


@lru_cache(maxsize=1)
def codelist() -> tuple[dict[str, str], set[str]]:
    """(variable -> unit, region names) read from the YAML files."""
    variables: dict[str, str] = {}
    for f in sorted((DEFS / "variable").glob("*.yaml")):
        for item in yaml.safe_load(f.read_text(encoding="utf-8")):
            (name, attrs), = item.items()
            assert name not in variables, f"{name} defined twice"
            variables[name] = attrs["unit"]
    regions: set[str] = set()
    for f in sorted((DEFS / "region").glob("*.yaml")):
        for hierarchy in yaml.safe_load(f.read_text(encoding="utf-8")):
            (_, members), = hierarchy.items()
            for m in members:
                regions.add(next(iter(m)) if isinstance(m, dict) else m)
    return variables, regions


@lru_cache(maxsize=None)
def output(name: str):
    return iamc_table(run_projection(load_preset(name), samples=30, seed=2))


def test_definitions_are_up_to_date():
    spec = importlib.util.spec_from_file_location("build_definitions", ROOT / "scripts" / "build_definitions.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0, "definitions/ is stale: run python scripts/build_definitions.py"


def problems(t) -> list[str]:
    """What an IAMC table emits that the codelist lacks (variables, units, regions)."""
    variables, regions = codelist()
    emitted = t[["variable", "unit"]].drop_duplicates()
    out = [f"variable {v}" for v in sorted(set(emitted["variable"]) - set(variables))]
    out += [f"unit of {v}: {u} (codelist {variables[v]})" for v, u in zip(emitted["variable"], emitted["unit"])
            if v in variables and variables[v] != u]
    out += [f"region {r}" for r in sorted(set(t["region"]) - regions)]
    return out


@pytest.mark.parametrize("name", preset_names())
def test_every_emitted_variable_unit_and_region_is_defined(name):
    bad = problems(output(name))
    assert not bad, f"{name} emits what definitions/ lacks (run scripts/build_definitions.py): {bad[:5]}"


def test_units_use_iamc_spelling():
    units = set(codelist()[0].values())
    assert "Mt CO2-equiv/yr" in units and "TWh/yr" in units
    assert not {"Mt CO2e/yr", "TWh", "Mt CO2e"} & units


def test_the_check_catches_what_the_codelist_lacks():
    t = output("reference").head(3).copy()
    t["variable"] = ["Energy|Inference|Juggling", "Energy", "Energy"]
    t["unit"] = ["TWh/yr", "TWh/yr", "GWh/yr"]
    t["region"] = ["World", "World", "Atlantis"]
    assert problems(t) == ["variable Energy|Inference|Juggling", "unit of Energy: GWh/yr (codelist TWh/yr)",
                           "region Atlantis"]


@pytest.mark.parametrize("name", preset_names())
def test_nomenclature_validates_every_preset(name):
    nomenclature = pytest.importorskip("nomenclature", reason=NOMENCLATURE_SKIP)
    pyam = pytest.importorskip("pyam", reason=NOMENCLATURE_SKIP)
    dsd = nomenclature.DataStructureDefinition(DEFS)
    df = pyam.IamDataFrame(output(name))
    assert dsd.validate(df) is None
    assert dsd.check_aggregate(df).empty
