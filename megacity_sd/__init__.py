"""megacity-sd: pollution and carbon co-reduction in megacities, as a system-dynamics model.

The model is ``sd_models/megacity.mdl``; scenarios are YAML files that override
its constants; runs return one long table ``city, scenario, variable, unit,
year, value``.
"""

import importlib

# Names are imported on first use (PEP 562), so that `megacity-sd explain` and
# `import megacity_sd.errors` do not pay for pandas, PySD and statsmodels.
_EXPORTS = {
    "UserInputError": "errors", "INDICATORS": "indicators", "Indicator": "indicators", "evaluate": "indicators",
    "summary": "indicators", "MODEL_PATH": "model", "model_doc": "model", "ENGINES": "engines", "run": "simulate",
    "run_long": "simulate", "to_long": "simulate", "DEFAULT_SCENARIOS": "scenario", "Scenario": "scenario",
    "load_scenario": "scenario", "ema_model": "robust", "load_targets": "targets",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_SCENARIOS",
    "ENGINES",
    "INDICATORS",
    "MODEL_PATH",
    "Indicator",
    "Scenario",
    "UserInputError",
    "ema_model",
    "evaluate",
    "load_scenario",
    "load_targets",
    "model_doc",
    "run",
    "run_long",
    "summary",
    "to_long",
]

__version__ = "0.1.0"
