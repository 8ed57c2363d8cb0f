"""The variables and regions wattcast emits, IAMC style: names, units, descriptions and the tree.

Every variable of a projection result is declared here once, with its unit (IAMC
spelling) and a description that says what is counted and at which boundary. `TREE`
lists each parent with the children that sum to it; `tests/test_project_tree.py`
checks every preset's output against it (central values, every region and year),
the way pyam's `check_aggregate` would. Workload variables (`Energy|Inference|<name>`)
are added per scenario by `workload_variables`.

Units: energy in TWh/yr of electricity at the facility meter (PUE included) unless the
name says IT; emissions in Mt CO2-equiv/yr; water in million m3/yr (= billion litres).
"""

from __future__ import annotations

from dataclasses import dataclass

#: region id -> output name; World is the sum of the others
REGIONS: dict[str, str] = {
    "USA": "United States",
    "CHN": "China",
    "EUR": "Europe",
    "ROW": "Rest of World",
}
WORLD = "World"
REGION_NAMES: tuple[str, ...] = (WORLD, *REGIONS.values())


@dataclass(frozen=True)
class Variable:
    unit: str
    description: str
    #: True for quantities that must never be negative (checked at the end of every run)
    nonnegative: bool = True
    #: False for intensive quantities (shares, ratios) that are not summed over regions
    additive: bool = True


E = "TWh/yr"
MT = "Mt CO2-equiv/yr"
W = "million m3/yr"

VARIABLES: dict[str, Variable] = {
    "Energy": Variable(E, "Electricity of the AI accelerator fleet at the facility meter (PUE included): "
                          "inference + training + unattributed; fleet-consistent"),
    "Energy|Inference": Variable(E, "Facility electricity attributed to inference workloads (sum of workloads)"),
    "Energy|Training": Variable(E, "Facility electricity attributed to training: frontier runs + fine-tuning"),
    "Energy|Training|Frontier": Variable(E, "Facility electricity of frontier-model training runs started in the year"),
    "Energy|Training|Fine-tuning": Variable(E, "Facility electricity of fine-tuning and smaller training runs"),
    "Energy|Unattributed": Variable(E, "AI fleet electricity not attributed to a modelled workload "
                                       "(fleet energy minus attributed, floored at 0)"),
    "Energy|IT": Variable(E, "Electricity of the AI accelerator fleet at the IT boundary (servers, no PUE)"),
    "Fleet|Energy": Variable(E, "Supply side: installed accelerators x power x utilisation x 8,760 h x PUE"),
    "Fleet|Installed Accelerators": Variable("million", "Accelerators installed (mid-year, after retirement)"),
    "Fleet|Shipments": Variable("million", "Accelerators installed in the year, including the newest-class "
                                           "units that replace those the hardware-refresh lever retires early"),
    "Power|Peak": Variable("GW", "Peak facility power demand of the AI fleet (all servers at full load, x PUE)"),
    "Power|Average": Variable("GW", "Average facility power of the AI fleet (Energy / 8,760 h)"),
    "Share|Attributed": Variable("fraction", "Share of Energy attributed to modelled workloads "
                                             "(inference + training)", additive=False),
    "Utilisation|Fleet": Variable("fraction", "Average accelerator utilisation of the installed fleet "
                                              "(power-weighted)", additive=False),
    "Data Centres": Variable(E, "All data-centre electricity: AI fleet + conventional (facility, excl. crypto)"),
    "Data Centres|AI": Variable(E, "AI accelerator fleet electricity (equal to Energy)"),
    "Data Centres|Conventional": Variable(E, "Conventional (non-accelerated) data-centre electricity (facility)"),
    "Emissions": Variable(MT, "AI emissions: location-based operational + embodied (the headline sum)"),
    "Emissions|Location-based": Variable(MT, "Operational emissions at the regional grid's average intensity"),
    "Emissions|Market-based": Variable(MT, "Operational emissions net of contracted clean power "
                                           "(alternative to location-based, not part of the headline sum)"),
    "Emissions|Embodied": Variable(MT, "Manufacturing emissions of accelerators and servers, amortised over "
                                       "their lifetime, by vintage"),
    "Water": Variable(W, "Water consumed: on-site cooling + off-site at power plants"),
    "Water|On-site": Variable(W, "Water consumed by on-site cooling (WUE x IT energy)"),
    "Water|Off-site": Variable(W, "Water consumed at power plants generating the electricity (facility energy x "
                                  "water intensity of generation)"),
    "Activity|Inference": Variable("billion/yr", "Inference requests served (all workloads)"),
}

#: parent -> children whose central values sum to it (per region and year)
TREE: dict[str, list[str]] = {
    "Energy": ["Energy|Inference", "Energy|Training", "Energy|Unattributed"],
    "Energy|Training": ["Energy|Training|Frontier", "Energy|Training|Fine-tuning"],
    "Data Centres": ["Data Centres|AI", "Data Centres|Conventional"],
    "Emissions": ["Emissions|Location-based", "Emissions|Embodied"],
    "Water": ["Water|On-site", "Water|Off-site"],
}

INFERENCE_PREFIX = "Energy|Inference|"
ACTIVITY_PREFIX = "Activity|Inference|"
FLEET_CLASS_PREFIX = "Fleet|Installed Accelerators|"


def workload_variables(labels: dict[str, str]) -> dict[str, Variable]:
    """Per-workload variables for workload id -> label (e.g. {"llm": "LLM Text"})."""
    out: dict[str, Variable] = {}
    for label in labels.values():
        out[INFERENCE_PREFIX + label] = Variable(E, f"Facility electricity of inference for {label}")
        out[ACTIVITY_PREFIX + label] = Variable("billion/yr", f"Requests served for {label}")
    return out


def class_variables(labels: dict[str, str]) -> dict[str, Variable]:
    """Per-accelerator-class fleet variables for class id -> label."""
    return {FLEET_CLASS_PREFIX + lab: Variable("million", f"{lab} accelerators installed (mid-year)")
            for lab in labels.values()}
