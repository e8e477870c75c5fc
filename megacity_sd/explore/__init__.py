"""The policy explorer: a local web page where every move of a lever re-runs the model.

``megacity-sd explore`` serves one page (``megacity_sd/web/``: plain HTML, CSS
and JavaScript drawing SVG, nothing loaded from outside) and a small JSON API
on ``127.0.0.1``, with the standard library's ``ThreadingHTTPServer``:

==========================  ====================================================================
``GET /api/meta``           cities, scenario presets, the levers grouped by sector, chart specs
``POST /api/preset``        a preset resolved for a city: lever values, baseline paths, sources,
                            the uncertainty sliders (``scenarios/uncertainty.yaml``)
``POST /api/upload``        a scenario file the user opened in the browser (its text), validated
``POST /api/run``           one run of the "fast" engine: charts, indicators, co-control points,
                            plan targets (met or missed)
``POST /api/export/yaml``   the setting as a scenario file for ``megacity-sd run --scenario FILE``
``POST /api/export/csv``    the setting's results (and the baseline's) as the long table
``POST /api/export/report`` the report of :mod:`megacity_sd.report` for the setting
==========================  ====================================================================

Nothing is listed by hand: the levers are the model's policy constants
(:func:`lever_families`), grouped by the sector their effective value
drives, the presets are the files of ``scenarios/``, the uncertainty sliders
come from ``scenarios/uncertainty.yaml``.

Every request body is JSON of at most :data:`MAX_BODY` bytes
(:data:`MAX_UPLOAD_BODY` for an upload) with known keys only, and its
constants pass the checks of scenario files (:func:`check_constants`: a model
constant, a number, within the model's ``[min,max]``); anything else gets a
4xx answer with one line, and nothing changes. Runs are serialised and
coalesced: a run request that a newer one of the same page has overtaken
while it waited is answered ``superseded`` without running. No path from the
browser reaches the file system: an uploaded file is text, and its
``extends`` may only name shipped scenarios.
"""

from .explorer import (
    CHARTS,
    TABLE_INDICATORS,
    Explorer,
)
from .levers import (
    check_constants,
    is_lever,
    lever_families,
)
from .requests import (
    MAX_BODY,
    MAX_UPLOAD_BODY,
    RequestError,
)
from .server import (
    WEB_DIR,
    ExploreServer,
    make_server,
)

__all__ = [
    "WEB_DIR",
    "MAX_BODY",
    "MAX_UPLOAD_BODY",
    "CHARTS",
    "TABLE_INDICATORS",
    "Explorer",
    "ExploreServer",
    "RequestError",
    "check_constants",
    "is_lever",
    "lever_families",
    "make_server",
]
