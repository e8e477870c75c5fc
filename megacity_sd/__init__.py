"""megacity-sd: pollution and carbon co-reduction in megacities, as a system-dynamics model.

The model is ``sd_models/megacity.mdl``; scenarios are YAML files that override
its constants; runs return one long table ``city, scenario, variable, unit,
year, value``.
"""

from .errors import UserInputError
from .indicators import INDICATORS, Indicator, evaluate, summary
from .model import MODEL_PATH, model_doc
from .run import ENGINES, run, run_long, to_long
from .scenario import DEFAULT_SCENARIOS, Scenario, load_scenario

__all__ = [
    "DEFAULT_SCENARIOS",
    "ENGINES",
    "INDICATORS",
    "MODEL_PATH",
    "Indicator",
    "Scenario",
    "UserInputError",
    "evaluate",
    "load_scenario",
    "model_doc",
    "run",
    "run_long",
    "summary",
    "to_long",
]

__version__ = "0.1.0"
