"""Stock-and-flow diagrams: a layout saved in the model's sketch, and pictures of it.

:func:`write_sketch` lays out every view (sector) of the ``.mdl`` file and
rewrites its sketch section (everything from the first ``\\\\---///`` line): each
variable stays in the view it was drawn in, stocks get their valves, pipes and
clouds, and every causal link inside a view becomes a connector with its
polarity. The equations are not touched. Vensim shows the result, PySD and
pysimlin read the same views.

The layout of a view is a layered drawing (Sugiyama, Tagawa & Toda 1981, IEEE
Trans. SMC 11(2):109-125) of its causal graph, read left to right: a stock with
its flows is one block (a chain of stocks joined by transfer flows is one
block), links that run against the reading direction (they close feedback
loops) are found with the greedy heuristic of Eades, Lin & Smyth (1993,
Inf. Process. Lett. 47:319-323) and drawn as arcs, crossings are reduced by
barycentre ordering, and the blocks of a view that are not linked inside it
are packed in rows.

:func:`write_diagrams` renders one picture per view with pysimlin (the model's
own sketch, plus the variables the view reads from other sectors drawn as
shadow variables near their first use) and frames it with matplotlib: a title,
grey boxes over the shadow variables, the polarity of each connector, and a
marker for each named feedback loop that lies in the view. It also draws an
overview of the sectors and the causal links between them.

:mod:`megacity_sd.layout.policy` generates the Policy sector (its equation
group and its sketch view) from the lever table ``megacity_sd/data/levers.csv``
(``megacity-sd levers --write-model``; ``--check`` compares).
"""

from .layered import (
    layout_model,
    layout_view,
)
from .render import (
    plot_overview,
    render_view,
    write_diagrams,
)
from .sketch import (
    sketch_text,
    write_sketch,
)
from .structure import (
    model_structure,
)

__all__ = [
    "model_structure",
    "layout_view",
    "layout_model",
    "sketch_text",
    "write_sketch",
    "render_view",
    "plot_overview",
    "write_diagrams",
]
