"""Feedback inspection: loops, their dominance over time, knock-outs and causal tracing.

The causal graph and the loop scores come from pysimlin:

* links and their polarity: ``simlin.Model.get_links()`` gives every causal link
  with its statically analysed polarity (``+``, ``-`` or ``?``). Where the
  static polarity is unknown, or where it depends on the sign of another term
  (``(target - share) / adjustment time`` is increasing in the adjustment time
  while the share is above its target), the sign of the link's Loops That Matter
  link score in the run decides (``simlin.Sim.get_links()`` with LTM on). A
  loop's polarity is the product of its links' polarities.
* every feedback loop up to :data:`MAX_LOOP_LENGTH` links: the model is too large
  for pysimlin's exhaustive loop enumeration (``Model.loops`` is empty and
  ``Model.analyze`` reports at most 200 loops, those that matter most), so the
  elementary circuits of the engine's causal graph are enumerated here with
  Johnson's algorithm (Johnson 1975, SIAM J. Comput. 4(1):77-84,
  doi:10.1137/0204007) as ``networkx.simple_cycles`` implements it, with its
  length bound. On models small enough for the engine (the test toy) the two
  enumerations are compared.
* dominance: ``simlin.Model.analyze`` runs Loops That Matter discovery
  (Schoenberg, Davidsen & Eberlein 2020, System Dynamics Review 36:158-190,
  arXiv:1908.11434) and returns each loop's relative loop score over time (its
  signed share of its cycle partition's loop-score mass).
  For one output variable the loops considered are those *through* the output
  if it lies on loops (PM2.5, population), else those through its nearest
  loop-bearing causes (CO2 emissions is an auxiliary off every loop: the fuel
  uses it is computed from); their scores are renormalised among themselves and
  pysimlin's dominance rule is applied (the fewest same-polarity loops whose
  shares add up to at least one half; ``simlin.Run.dominant_periods``).

The eight loops the model names are documented in the comments of its
``... loop switch`` constants ("Loop switch (R) capital accumulation: GDP ->
investment -> capital -> GDP"); each switch holds one link of its loop at its
2005 value (the inputs its equation multiplies by the switch). A found loop gets
the model's name when it runs through that link, has the documented polarity,
and of those loops matches the most steps of the documented path (a step
matches a variable whose name contains all the step's words), the shortest
first; every loop through the link is listed as cut by the switch.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserInputError, suggest
from .model import MODEL_PATH, canonical, check_constant, model_doc

__all__ = [
    "OUTPUTS",
    "KNOCKOUT_INDICATORS",
    "CausalLink",
    "FeedbackLoop",
    "NamedLoop",
    "LoopAnalysis",
    "configured_model",
    "causal_links",
    "elementary_circuits",
    "MAX_LOOP_LENGTH",
    "named_loops",
    "find_loops",
    "loops_frame",
    "resolve_variable",
    "output_loops",
    "loop_scores",
    "analyze_loops",
    "dominant_periods",
    "dominance_table",
    "knockouts",
    "explain",
    "causes_tree",
    "uses_tree",
    "describe_loop",
    "plot_loop_scores",
    "plot_knockouts",
]

#: Outputs whose loop dominance ``megacity-sd loops`` reports: label -> model variable.
OUTPUTS = {"CO2": "CO2 emissions", "PM2.5": "PM25", "population": "Population"}
#: Indicators a knock-out reports (names in :data:`megacity_sd.indicators.INDICATORS`).
KNOCKOUT_INDICATORS = ("CO2 peak year", "cumulative CO2 2021-2060", "PM2.5 in 2035", "population in 2060")
#: Separator pysimlin uses in the names of its internal nodes (SMOOTH stocks, LTM helpers).
_INTERNAL = "\u205a"
_SIGN = {"+": 1, "-": -1, "?": 0}


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CausalLink:
    """One causal link of the model.

    Attributes
    ----------
    source, target : str
        pysimlin identifiers (canonical names).
    polarity : int
        +1, -1, or 0 when neither the equation nor the run settles it.
    static : str
        The engine's static polarity: ``"+"``, ``"-"`` or ``"?"``.
    from_run : bool
        True when ``polarity`` comes from the sign of the link's LTM score in
        the run (the static polarity was ``"?"`` or disagreed with the run).
    """

    source: str
    target: str
    polarity: int
    static: str
    from_run: bool = False


@dataclass(frozen=True)
class NamedLoop:
    """A feedback loop the model names, with the switch that cuts it.

    Attributes
    ----------
    switch : str
        Model name of the ``... loop switch`` constant.
    name : str
        The loop's name in the switch's comment, e.g. ``"capital accumulation"``.
    polarity : str
        ``"R"`` or ``"B"`` as documented.
    path : str
        The documented path, e.g. ``"GDP -> investment -> capital -> GDP"``.
    links : tuple of (str, str)
        The links (pysimlin identifiers) the switch holds at their 2005 value.
    """

    switch: str
    name: str
    polarity: str
    path: str
    links: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FeedbackLoop:
    """One elementary feedback loop.

    Attributes
    ----------
    id : str
        ``L00001`` ...: loops numbered by length, then by their variables.
    variables : tuple of str
        pysimlin identifiers in causal order, starting at a stock.
    signs : tuple of int
        Polarity of each link ``variables[i] -> variables[i+1]`` (cyclic).
    polarity : str
        ``"R"`` (reinforcing), ``"B"`` (balancing) or ``"U"`` (undetermined).
    name : str
        The model's name for the loop, or ``""``.
    switches : tuple of str
        Loop switches whose knock-out cuts this loop.
    """

    id: str
    variables: tuple[str, ...]
    signs: tuple[int, ...]
    polarity: str
    name: str = ""
    switches: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.variables)

    @property
    def links(self) -> list[tuple[str, str]]:
        """The loop's links as (source, target) pairs."""
        v = self.variables
        return [(v[i], v[(i + 1) % len(v)]) for i in range(len(v))]


@dataclass
class LoopAnalysis:
    """Loops of one model configuration and, when run, their LTM scores.

    Attributes
    ----------
    loops : list of FeedbackLoop
        Every elementary feedback loop.
    links : dict
        ``(source, target) -> CausalLink``.
    named : list of NamedLoop
        The loops the model names.
    scores : pandas.DataFrame or None
        Relative loop scores (index year, one column per reported loop id),
        from :func:`loop_scores`.
    partition : dict of str to int
        Cycle partition of each scored loop.
    info : dict
        Completeness flags of the LTM discovery (``enumeration_complete``,
        ``truncated``, ``retained_loops``, ``universe_loops``, ``reported``).
    """

    loops: list[FeedbackLoop]
    links: dict[tuple[str, str], CausalLink]
    named: list[NamedLoop]
    scores: pd.DataFrame | None = None
    partition: dict[str, int] = dataclasses.field(default_factory=dict)
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def by_id(self) -> dict[str, FeedbackLoop]:
        """Loops keyed by id."""
        return {lp.id: lp for lp in self.loops}


# ------------------------------------------------------------------ the engine


def configured_model(constants: Mapping[str, float] | None = None, mdl_path: str | Path = MODEL_PATH):
    """Load the model with pysimlin, with some constants set to other values.

    ``Model.analyze`` always works on the model's own equations, so a city or
    a scenario is applied by editing the constants' equations in memory (the
    file is never written: ``simlin.load`` returns an in-memory project).

    Parameters
    ----------
    constants : mapping of str to float, optional
        Model constant name -> value (e.g. ``Scenario.constants``).
    mdl_path : str or Path
        The Vensim model file.

    Returns
    -------
    simlin.Model
    """
    import simlin

    model = simlin.load(str(mdl_path))
    if constants:
        with model.edit() as (current, patch):
            for name, value in constants.items():
                key = canonical(check_constant(name, mdl_path=mdl_path).name)
                if key not in current:
                    raise UserInputError(f"'{name}' is not a constant of pysimlin's model of {mdl_path}")
                patch.upsert(dataclasses.replace(current[key], equation=repr(float(value))))
    return model


def _run_ltm(model):
    """Simulate with Loops That Matter instrumentation; return the finished Sim."""
    sim = model.simulate(enable_ltm=True)
    sim.run_to_end()
    return sim


def causal_links(model, sim=None) -> dict[tuple[str, str], CausalLink]:
    """Causal links of a model with their polarity.

    The engine's static polarity is used where the run does not contradict it;
    a link whose static polarity is ``?``, or whose LTM link score in the run
    has the other sign at every step where it is non-zero, takes the sign of
    its score. A link whose score changes sign keeps polarity 0.

    Parameters
    ----------
    model : simlin.Model
    sim : simlin.Sim, optional
        A finished simulation with LTM on; run here when not given.

    Returns
    -------
    dict
        ``(source, target) -> CausalLink``.
    """
    if sim is None:
        sim = _run_ltm(model)
    scores = {(lk.from_var, lk.to_var): lk.score for lk in sim.get_links()}
    out: dict[tuple[str, str], CausalLink] = {}
    for lk in model.get_links():
        static = str(lk.polarity)
        pol = _SIGN[static]
        run_sign = 0  # 0: no score, never non-zero, or both signs (then the equation decides)
        score = scores.get((lk.from_var, lk.to_var))
        if score is not None:
            s = score[np.isfinite(score)]
            s = s[np.abs(s) > 0]
            if s.size and (s > 0).all():
                run_sign = 1
            elif s.size and (s < 0).all():
                run_sign = -1
        from_run = run_sign != 0 and run_sign != pol
        out[(lk.from_var, lk.to_var)] = CausalLink(lk.from_var, lk.to_var, run_sign if from_run else pol,
                                                   static, from_run)
    return out


# --------------------------------------------------------------- graph algorithms

#: Longest loop enumerated (links). Every elementary circuit up to this length is found; the model's
#: named loops are all shorter. The full enumeration is exponential in the loop length: the model has
#: about 1500 loops of up to 20 links and tens of thousands above 26 (most of them re-combinations of
#: the same price and share links), which no one inspects and which would not fit in memory.
MAX_LOOP_LENGTH = 20


def elementary_circuits(adj: Mapping[str, Iterable[str]], length_bound: int | None = None) -> list[tuple[str, ...]]:
    """Elementary circuits of a directed graph (Johnson 1975, via ``networkx.simple_cycles``).

    Parameters
    ----------
    adj : mapping of str to iterable of str
        Successors of each node.
    length_bound : int, optional
        Longest circuit (number of nodes) to return; None for all of them.

    Returns
    -------
    list of tuple of str
        Each circuit once, as a node sequence (the closing edge back to the
        first node is implied).
    """
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(adj)
    graph.add_edges_from((v, w) for v, ws in adj.items() for w in ws)
    out = []
    for c in nx.simple_cycles(graph, length_bound=length_bound):
        k = c.index(min(c))  # each circuit from its least node, so the result does not depend on the search
        out.append(tuple(c[k:] + c[:k]))
    return out


# ------------------------------------------------------------------ named loops

_SWITCH_DOC = re.compile(r"Loop switch \((?P<pol>[RB])\) (?P<name>[^:]+):\s*(?P<path>.*?)\.\s+1 on")
_OPERATORS = r"()*,/+\-^<>="


def _switched_inputs(switch: str, equation: str, candidates: Iterable[str]) -> set[str]:
    """Inputs of an equation that sit in the term the switch multiplies.

    ``S * A + (1 - S) * B`` -> the variables of ``A``.
    """
    text = " ".join(equation.lower().replace("_", " ").split())
    sw = " ".join(switch.lower().replace("_", " ").split())
    start = text.find(sw)
    if start < 0:
        return set()
    start += len(sw)
    end_match = re.compile(r"\(\s*1\s*-\s*" + re.escape(sw)).search(text, start)
    end = end_match.start() if end_match else len(text)
    pieces = {canonical(p.group()) for p in re.finditer(f"[^{re.escape(_OPERATORS)}]+", text[start:end])
              if p.group().strip()}
    return {c for c in candidates if c in pieces}


@lru_cache(maxsize=8)
def _named_loops_cached(mdl_path: str, links_key: tuple[tuple[str, str], ...]) -> tuple[NamedLoop, ...]:
    doc = model_doc(Path(mdl_path))
    inputs: dict[str, set[str]] = defaultdict(set)
    for src, tgt in links_key:
        inputs[tgt].add(src)
    out = []
    for key, var in doc.items():
        if var.kind != "constant" or not key.endswith("loop_switch"):
            continue
        m = _SWITCH_DOC.search(var.comment)
        if not m:
            continue
        cut = []
        for tgt, srcs in sorted(inputs.items()):
            if key not in srcs:
                continue
            eq = doc[tgt].equation if tgt in doc else ""
            varying = [s for s in srcs if s != key and (s not in doc or doc[s].kind != "constant")]
            cut.extend((s, tgt) for s in sorted(_switched_inputs(var.name, eq, varying)))
        out.append(NamedLoop(var.name, m["name"].strip(), m["pol"], m["path"].strip(), tuple(cut)))
    return tuple(out)


def named_loops(links: Mapping[tuple[str, str], CausalLink] | Iterable[tuple[str, str]],
                mdl_path: str | Path = MODEL_PATH) -> list[NamedLoop]:
    """The feedback loops the model names in its ``... loop switch`` comments.

    Parameters
    ----------
    links : mapping or iterable of (source, target)
        The model's causal links (from :func:`causal_links`).
    mdl_path : str or Path

    Returns
    -------
    list of NamedLoop
    """
    key = tuple(sorted(links.keys() if isinstance(links, Mapping) else links))
    return list(_named_loops_cached(str(Path(mdl_path)), key))


# ------------------------------------------------------------------ loop finding


def _rotate(cycle: Sequence[str], stocks: set[str]) -> tuple[str, ...]:
    anchors = [v for v in cycle if v in stocks] or list(cycle)
    first = min(anchors)
    i = list(cycle).index(first)
    return tuple(cycle[i:]) + tuple(cycle[:i])


def _words(text: str) -> frozenset[str]:
    text = re.sub(r"\(.*?\)", " ", text.lower()).replace("pm2.5", "pm25")
    return frozenset(w for w in re.split(r"[^a-z0-9]+", text) if w)


def _path_steps_matched(path: str, variables: Iterable[str], doc) -> int:
    """How many steps of a documented path name a variable of the loop.

    A step matches when some variable's name contains every word of the step.
    """
    names = [_words(_display(v, doc)) for v in variables]
    steps = [_words(s) for s in path.split("->")]
    return sum(any(step <= n for n in names) for step in dict.fromkeys(steps) if step)


def find_loops(model=None, *, mdl_path: str | Path = MODEL_PATH, links=None, sim=None) -> LoopAnalysis:
    """Every feedback loop of a model, with polarity and the model's names.

    Parameters
    ----------
    model : simlin.Model, optional
        A loaded (possibly configured) model; loaded from ``mdl_path`` when
        not given.
    mdl_path : str or Path
        The model file (for the declarations: kinds, comments, sectors).
    links : dict, optional
        Output of :func:`causal_links`; computed when not given.
    sim : simlin.Sim, optional
        A finished LTM simulation of ``model``.

    Returns
    -------
    LoopAnalysis
        Loops numbered ``L00001...`` by length, then variables.
    """
    if model is None:
        model = configured_model(None, mdl_path)
    if links is None:
        links = causal_links(model, sim)
    doc = model_doc(Path(mdl_path))
    adj: dict[str, set[str]] = defaultdict(set)
    for src, tgt in links:
        adj[src].add(tgt)
    stocks = {k for k, v in doc.items() if v.kind == "stock"}
    cycles = sorted((_rotate(c, stocks) for c in elementary_circuits(adj, MAX_LOOP_LENGTH)),
                    key=lambda c: (len(c), c))
    named = named_loops(links, mdl_path)
    loops = []
    for i, cyc in enumerate(cycles, start=1):
        signs = tuple(links[(cyc[j], cyc[(j + 1) % len(cyc)])].polarity for j in range(len(cyc)))
        pol = "U" if 0 in signs else ("R" if sum(s < 0 for s in signs) % 2 == 0 else "B")
        edges = {(cyc[j], cyc[(j + 1) % len(cyc)]) for j in range(len(cyc))}
        switches = tuple(nl.switch for nl in named if edges & set(nl.links))
        loops.append(FeedbackLoop(f"L{i:05d}", cyc, signs, pol, "", switches))
    # the model's names: among the loops of the documented polarity through the switched link,
    # the ones that match most steps of the documented path, and of those the shortest
    for nl in named:
        cands = [lp for lp in loops if nl.switch in lp.switches and lp.polarity == nl.polarity]
        if not cands:
            continue
        score = {lp.id: (_path_steps_matched(nl.path, lp.variables, doc), -len(lp)) for lp in cands}
        best = max(score.values())
        for lp in cands:
            if score[lp.id] == best:
                idx = int(lp.id[1:]) - 1
                loops[idx] = dataclasses.replace(lp, name=f"{lp.name}; {nl.name}" if lp.name else nl.name)
    return LoopAnalysis(loops=loops, links=dict(links), named=named)


def _display(ident: str, doc) -> str:
    if ident in doc:
        return doc[ident].name
    if ident.endswith("_net_flow") and ident[: -len("_net_flow")] in doc:
        return f"{doc[ident[: -len('_net_flow')]].name} net flow"
    return ident.replace("_", " ")


def _sector(ident: str, doc) -> str:
    if ident in doc:
        return doc[ident].sector
    if ident.endswith("_net_flow") and ident[: -len("_net_flow")] in doc:
        return doc[ident[: -len("_net_flow")]].sector
    return ""


def describe_loop(loop: FeedbackLoop, mdl_path: str | Path = MODEL_PATH, max_steps: int = 5) -> str:
    """A short description: the model's name or the path, elided when long.

    A long loop is shown by its first steps and the stocks it passes through:
    ``PM25 -> perceived PM25 -> ... (18 variables; stocks PM25, Population, trucks)``.
    """
    doc = model_doc(Path(mdl_path))
    names = [_display(v, doc) for v in loop.variables]
    if len(names) <= max_steps:
        path = " -> ".join([*names, names[0]])
    else:
        stocks = [_display(v, doc) for v in loop.variables if v in doc and doc[v].kind == "stock"]
        path = " -> ".join(names[: max(2, max_steps - 2)]) + f" -> ... ({len(names)} variables"
        path += f"; stocks {', '.join(stocks)})" if stocks else ")"
    return f"{loop.name}: {path}" if loop.name else path


def loops_frame(analysis: LoopAnalysis, mdl_path: str | Path = MODEL_PATH) -> pd.DataFrame:
    """The loops as a table (the content of ``loops.csv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``loop, name, polarity, length, sectors, switches, mean_score,
        variables``: ``sectors`` the views the loop crosses (in loop order),
        ``switches`` the loop switches that cut it, ``mean_score`` the loop's
        mean absolute relative LTM score over the run where the discovery
        reported it (empty otherwise), ``variables`` the path in causal order
        (model names, ``" -> "``-separated, back to the first).
    """
    doc = model_doc(Path(mdl_path))
    mean = {}
    if analysis.scores is not None:
        mean = analysis.scores.abs().mean().to_dict()
    rows = []
    for lp in analysis.loops:
        sectors = list(dict.fromkeys(s for s in (_sector(v, doc) for v in lp.variables) if s))
        names = [_display(v, doc) for v in lp.variables]
        rows.append((lp.id, lp.name, lp.polarity, len(lp), "; ".join(sectors), "; ".join(lp.switches),
                     mean.get(lp.id, np.nan), " -> ".join([*names, names[0]])))
    return pd.DataFrame(rows, columns=["loop", "name", "polarity", "length", "sectors", "switches",
                                       "mean_score", "variables"])


# ---------------------------------------------------------------- dominance


def resolve_variable(name: str, mdl_path: str | Path = MODEL_PATH) -> str:
    """The pysimlin identifier of a model variable, or a one-line UserInputError."""
    doc = model_doc(Path(mdl_path))
    key = canonical(name)
    if key in doc and doc[key].sector != "Control":
        return key
    hint = suggest(name, [v.name for v in doc.values() if v.sector != "Control"], key=canonical) or \
        " (see 'megacity-sd scenarios --all' and sd_models/README.md)"
    raise UserInputError(f"unknown variable '{name}'; allowed: a model variable name{hint}")


def output_loops(analysis: LoopAnalysis, output: str) -> tuple[list[str], list[str]]:
    """Loops that drive one output variable.

    If the output lies on feedback loops, the loops through it. Otherwise its
    causes are traced back, stopping at the first variables that lie on loops
    (the output's nearest loop-bearing causes), and the loops through those.

    Parameters
    ----------
    analysis : LoopAnalysis
    output : str
        pysimlin identifier of the output.

    Returns
    -------
    loop_ids : list of str
    anchors : list of str
        The variables the loops were selected through.
    """
    on_loop: dict[str, list[str]] = defaultdict(list)
    for lp in analysis.loops:
        for v in lp.variables:
            on_loop[v].append(lp.id)
    causes: dict[str, set[str]] = defaultdict(set)
    for src, tgt in analysis.links:
        causes[tgt].add(src)
    anchors: list[str] = []
    seen = {output}
    todo = deque([output])
    while todo:
        v = todo.popleft()
        if v in on_loop:
            anchors.append(v)
            continue
        for c in sorted(causes[v]):
            if c not in seen:
                seen.add(c)
                todo.append(c)
    ids = sorted({i for a in anchors for i in on_loop[a]})
    return ids, sorted(anchors)


def loop_scores(model, analysis: LoopAnalysis, timeout: float = 60.0) -> LoopAnalysis:
    """Relative loop scores over time by Loops That Matter (``Model.analyze``).

    Parameters
    ----------
    model : simlin.Model
        The (configured) model whose loops ``analysis`` holds.
    analysis : LoopAnalysis
        From :func:`find_loops`; its ``scores``, ``partition`` and ``info``
        are filled in.
    timeout : float
        Seconds allowed for the discovery's candidate search.

    Returns
    -------
    LoopAnalysis
        The same object.
    """
    result = model.analyze(timeout=timeout)
    if result.analysis_error:
        raise RuntimeError(f"pysimlin loop analysis failed: {result.analysis_error}")
    spec = model.time_spec
    key_of = {frozenset(lp.variables): lp.id for lp in analysis.loops}
    series: dict[str, np.ndarray] = {}
    partition: dict[str, int] = {}
    unmatched = []
    for lp in result.loops:
        key = frozenset(v for v in lp.variables if _INTERNAL not in v)
        lid = key_of.get(key)
        if lid is None or lp.behavior_time_series is None:
            unmatched.append(lp.id)
            continue
        series[lid] = np.nan_to_num(lp.behavior_time_series, nan=0.0)
        partition[lid] = -1 if lp.partition is None else int(lp.partition)
    n = len(next(iter(series.values()))) if series else 0
    years = np.linspace(spec.start, spec.stop, n) if n else np.array([])
    analysis.scores = pd.DataFrame(series, index=pd.Index(np.round(years, 6), name="year"))
    analysis.partition = partition
    analysis.info = {"enumeration_complete": result.enumeration_complete, "truncated": result.truncated,
                     "retained_loops": result.retained_loops, "universe_loops": result.universe_loops,
                     "reported": len(result.loops), "unmatched": unmatched}
    return analysis


def analyze_loops(constants: Mapping[str, float] | None = None, *, mdl_path: str | Path = MODEL_PATH,
                  timeout: float = 60.0, scores: bool = True) -> LoopAnalysis:
    """Find every loop of a model configuration and score them over the run.

    Parameters
    ----------
    constants : mapping, optional
        Constant overrides (a city and scenario: ``Scenario.constants``).
    mdl_path : str or Path
    timeout : float
        Seconds for the LTM discovery.
    scores : bool
        Also run :func:`loop_scores`.

    Returns
    -------
    LoopAnalysis
    """
    model = configured_model(constants, mdl_path)
    analysis = find_loops(model, mdl_path=mdl_path)
    if scores:
        loop_scores(model, analysis, timeout=timeout)
    return analysis


def dominant_periods(shares: pd.DataFrame, polarity: Mapping[str, str],
                     threshold: float = 0.5) -> list[tuple[float, float, tuple[str, ...]]]:
    """Periods in which a set of loops dominates (pysimlin's rule).

    At every step the loops are ranked by absolute share; within each polarity
    the strongest loops are taken until their shares add up to ``threshold``;
    the polarity group with the larger sum dominates. Consecutive steps with
    the same set are merged (``simlin.Run.dominant_periods``).

    Parameters
    ----------
    shares : pandas.DataFrame
        Index time, one column per loop: signed shares.
    polarity : mapping of str to str
        ``"R"``/``"B"``/``"U"`` per loop (``U`` takes the sign of its share).
    threshold : float

    Returns
    -------
    list of (start, end, loops)
    """
    sets: list[frozenset[str]] = []
    for _, row in shares.iterrows():
        groups: dict[str, list[tuple[str, float]]] = {"R": [], "B": []}
        for lid, val in sorted(row.items(), key=lambda kv: -abs(kv[1])):
            if not np.isfinite(val) or val == 0:
                continue
            pol = polarity.get(lid, "U")
            pol = pol if pol in groups else ("R" if val > 0 else "B")
            groups[pol].append((lid, abs(val)))
        best: tuple[float, list[str]] = (0.0, [])
        for pol in ("R", "B"):
            chosen, total = [], 0.0
            for lid, val in groups[pol]:
                chosen.append(lid)
                total += val
                if total >= threshold:
                    break
            if total > best[0] or (pol == "R" and total == best[0] and total > 0):
                best = (total, chosen)
        sets.append(frozenset(best[1]))
    periods = []
    times = list(shares.index)
    start = 0
    for i in range(1, len(sets) + 1):
        if i == len(sets) or sets[i] != sets[start]:
            if sets[start]:
                periods.append((float(times[start]), float(times[i - 1]), tuple(sorted(sets[start]))))
            start = i
    return periods


def dominance_table(analysis: LoopAnalysis, outputs: Mapping[str, str] | None = None,
                    mdl_path: str | Path = MODEL_PATH, threshold: float = 0.5) -> tuple[pd.DataFrame, dict]:
    """Which loops dominate each output in which period.

    For each output the loops of :func:`output_loops` that the LTM discovery
    scored are kept; within each cycle partition their relative scores are
    renormalised to shares of their own total, and :func:`dominant_periods`
    is applied. The first step (no change yet, all scores zero) is skipped.

    Parameters
    ----------
    analysis : LoopAnalysis
        With scores (:func:`loop_scores`).
    outputs : mapping of str to str, optional
        Label -> model variable name (default :data:`OUTPUTS`).

    Returns
    -------
    table : pandas.DataFrame
        Columns ``output, start_year, end_year, dominant_loops, polarity,
        share, top_loop, top_polarity, top_share, names, coverage,
        partition``: ``share`` is the dominant loops' mean share of the
        output's scored loops over the period; ``top_loop`` the loop with the
        largest mean share in the period; ``names`` the model's names among
        the dominant loops; ``coverage`` the mean summed relative score of the
        output's scored loops, i.e. the part of their cycle partition's
        loop-score mass the shares are taken from; ``partition`` the cycle
        partition (pysimlin's index).
    shares : dict of str to pandas.DataFrame
        Per output label, the renormalised signed shares (columns: loops);
        ``attrs["coverage"]`` holds the coverage series.
    """
    if analysis.scores is None:
        raise ValueError("analysis has no scores; run loop_scores first")
    outputs = OUTPUTS if outputs is None else outputs
    loops = analysis.by_id
    rows, all_shares = [], {}
    for label, var in outputs.items():
        ident = resolve_variable(var, mdl_path)
        ids, _ = output_loops(analysis, ident)
        scored = [i for i in ids if i in analysis.scores.columns]
        frames, coverages = [], []
        for part in sorted({analysis.partition[i] for i in scored}):
            cols = [i for i in scored if analysis.partition[i] == part]
            raw = analysis.scores[cols].iloc[1:]
            total = raw.abs().sum(axis=1).replace(0.0, np.nan)
            shares = raw.div(total, axis=0).fillna(0.0)
            frames.append(shares)
            coverages.append(raw.abs().sum(axis=1))
            pol = {i: loops[i].polarity for i in cols}
            coverage = raw.abs().sum(axis=1)
            for start, end, dom in dominant_periods(shares, pol, threshold):
                period = shares.loc[start:end]
                share = float(period[list(dom)].abs().sum(axis=1).mean())
                mean = period.abs().mean()
                top = str(mean.idxmax())
                pols = "".join(sorted({loops[i].polarity for i in dom}))
                names = "; ".join(dict.fromkeys(loops[i].name for i in dom if loops[i].name))
                rows.append((label, int(round(start)), int(round(end)), " ".join(dom), pols, round(share, 3),
                             top, loops[top].polarity, round(float(mean[top]), 3), names,
                             round(float(coverage.loc[start:end].mean()), 3), part))
        all_shares[label] = pd.concat(frames, axis=1) if frames else pd.DataFrame()
        all_shares[label].attrs["coverage"] = sum(coverages) if coverages else None
    table = pd.DataFrame(rows, columns=["output", "start_year", "end_year", "dominant_loops", "polarity",
                                        "share", "top_loop", "top_polarity", "top_share", "names", "coverage",
                                        "partition"])
    return table, all_shares


# ---------------------------------------------------------------- knock-outs


def knockouts(constants: Mapping[str, float] | None = None, *, engine: str = "pysd",
              indicators: Sequence[str] = KNOCKOUT_INDICATORS, mdl_path: str | Path = MODEL_PATH,
              named: Sequence[NamedLoop] | None = None) -> pd.DataFrame:
    """Cut each named loop with its switch and report the effect on indicators.

    Parameters
    ----------
    constants : mapping, optional
        The configuration (city and scenario) the loops are cut in.
    engine : {"pysd", "simlin"}
    indicators : sequence of str
        Names from :data:`megacity_sd.indicators.INDICATORS`.
    named : sequence of NamedLoop, optional
        The named loops (default: found from the model).

    Returns
    -------
    pandas.DataFrame
        Columns ``loop, switch, polarity, indicator, unit, base, knocked_out,
        change, change_pct``.
    """
    from .indicators import INDICATORS
    from .run import run

    by_name = {i.name: i for i in INDICATORS}
    unknown = [n for n in indicators if n not in by_name]
    if unknown:
        raise UserInputError(f"unknown indicator '{unknown[0]}'; allowed: {', '.join(by_name)}")
    if named is None:
        model = configured_model(None, mdl_path)
        named = named_loops(causal_links(model), mdl_path)
    base_constants = dict(constants or {})
    base = run(base_constants, engine, mdl_path=mdl_path)
    rows = []
    for nl in named:
        cut = run({**base_constants, nl.switch: 0.0}, engine, mdl_path=mdl_path)
        for name in indicators:
            ind = by_name[name]
            b, k = ind(base[ind.variable]), ind(cut[ind.variable])
            pct = 100.0 * (k - b) / b if ind.reduction != "peak_year" and b != 0 else np.nan
            rows.append((nl.name, nl.switch, nl.polarity, name, ind.unit, b, k, k - b, pct))
    return pd.DataFrame(rows, columns=["loop", "switch", "polarity", "indicator", "unit", "base", "knocked_out",
                                       "change", "change_pct"])


# ---------------------------------------------------------------- causal tracing


def _tree(root: str, edges: Mapping[str, list[tuple[str, int]]], depth: int, doc, arrow: str) -> list[str]:
    lines = [_display(root, doc)]

    def walk(node: str, level: int, prefix: str, path: tuple[str, ...]) -> None:
        children = sorted(edges.get(node, []), key=lambda c: _display(c[0], doc).lower())
        for i, (child, sign) in enumerate(children):
            last = i == len(children) - 1
            mark = {1: "+", -1: "-", 0: "?"}[sign]
            tail = " (loop)" if child in path else ""
            lines.append(f"{prefix}{'`-' if last else '|-'}{arrow}{mark} {_display(child, doc)}{tail}")
            if not tail and level < depth:
                walk(child, level + 1, prefix + ("   " if last else "|  "), (*path, child))

    if depth > 0:
        walk(root, 1, "", (root,))
    return lines


def causes_tree(variable: str, links: Mapping[tuple[str, str], CausalLink], depth: int = 2,
                mdl_path: str | Path = MODEL_PATH) -> list[str]:
    """Vensim's causes tree: what a variable is computed from, to ``depth`` levels.

    Lines are ``|-<+ name``: the sign is the link's polarity; ``(loop)`` marks
    a variable already on the path.
    """
    edges: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (src, tgt), lk in links.items():
        edges[tgt].append((src, lk.polarity))
    return _tree(variable, edges, depth, model_doc(Path(mdl_path)), "<")


def uses_tree(variable: str, links: Mapping[tuple[str, str], CausalLink], depth: int = 2,
              mdl_path: str | Path = MODEL_PATH) -> list[str]:
    """Vensim's uses tree: what a variable feeds, to ``depth`` levels."""
    edges: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (src, tgt), lk in links.items():
        edges[src].append((tgt, lk.polarity))
    return _tree(variable, edges, depth, model_doc(Path(mdl_path)), ">")


def _definition_line(name: str, mdl_path: Path) -> int | None:
    target = canonical(name)
    for i, line in enumerate(mdl_path.read_text(encoding="utf-8").splitlines(), start=1):
        head = line.split("=", 1)[0] if "=" in line and not line.startswith(("\t", " ")) else None
        if head is not None and canonical(head) == target:
            return i
    return None


def explain(variable: str, *, depth: int = 2, constants: Mapping[str, float] | None = None,
            sources: Mapping[str, str] | None = None, analysis: LoopAnalysis | None = None,
            mdl_path: str | Path = MODEL_PATH, max_loops: int = 10) -> str:
    """Everything about one variable: declaration, causes, uses and loops.

    Parameters
    ----------
    variable : str
        Model variable name (case and spacing are ignored).
    depth : int
        Levels of the causes and uses trees (0 or more).
    constants, sources : mapping, optional
        The configuration's constant overrides and their sources
        (``Scenario.constants``, ``Scenario.sources``).
    analysis : LoopAnalysis, optional
        Loops of the configuration (found when not given).
    max_loops : int
        Loops listed (shortest first).

    Returns
    -------
    str
    """
    if not isinstance(depth, int) or depth < 0:
        raise UserInputError(f"depth must be an integer >= 0, not {depth!r}")
    mdl_path = Path(mdl_path)
    ident = resolve_variable(variable, mdl_path)
    doc = model_doc(mdl_path)
    var = doc[ident]
    if analysis is None:
        model = configured_model(constants, mdl_path)
        analysis = find_loops(model, mdl_path=mdl_path)
    lines = [f"{var.name}  ({var.kind}, sector {var.sector})"]
    where = _definition_line(var.name, mdl_path)
    lines.append(f"  defined in: {mdl_path.name}" + (f", line {where}" if where else ""))
    lines.append(f"  equation:   {var.name} = {var.equation}")
    lines.append(f"  units:      {var.units}")
    rng = f"[{var.limits[0]:g}, {var.limits[1]:g}]" if var.limits else "(no range declared)"
    lines.append(f"  range:      {rng}")
    lines.append(f"  comment:    {var.comment}")
    if var.kind == "constant":
        override = {canonical(k): v for k, v in (constants or {}).items()}.get(ident)
        src_map = {canonical(k): v for k, v in (sources or {}).items()}
        if override is not None and override != var.value:
            lines.append(f"  value:      {override:g} in this city/scenario (model default {var.value:g})")
            lines.append(f"  source:     {src_map.get(ident, 'scenario file')}")
        else:
            lines.append(f"  value:      {var.value:g}")
            lines.append("  source:     the comment above (the model's default)")
    lines.append("")
    lines.append(f"Causes (depth {depth}; '<+' / '<-': polarity of the link into the line above):")
    lines.extend("  " + s for s in causes_tree(ident, analysis.links, depth, mdl_path))
    lines.append("")
    lines.append(f"Uses (depth {depth}; '>+' / '>-': polarity of the link from the line above):")
    lines.extend("  " + s for s in uses_tree(ident, analysis.links, depth, mdl_path))
    through = [lp for lp in analysis.loops if ident in lp.variables]
    lines.append("")
    counts = {p: sum(lp.polarity == p for lp in through) for p in ("R", "B", "U")}
    lines.append(f"Feedback loops through {var.name}: {len(through)} "
                 f"(R {counts['R']}, B {counts['B']}" + (f", U {counts['U']}" if counts["U"] else "") + ")")
    named = [lp for lp in through if lp.name]
    for lp in named:
        lines.append(f"  {lp.id} {lp.polarity} named '{lp.name}' ({len(lp)} variables): "
                     + " -> ".join(_display(v, doc) for v in (*lp.variables, lp.variables[0])))
    shown = [lp for lp in through if not lp.name][: max(0, max_loops - len(named))]
    for lp in shown:
        lines.append(f"  {lp.id} {lp.polarity} ({len(lp)} variables): "
                     + " -> ".join(_display(v, doc) for v in (*lp.variables, lp.variables[0])))
    rest = len(through) - len(named) - len(shown)
    if rest > 0:
        lines.append(f"  ... and {rest} longer loops ('megacity-sd loops' lists them all in loops.csv)")
    return "\n".join(lines)


# ---------------------------------------------------------------- figures

_R_COLORS = ["#b2182b", "#f46d43", "#fdae61", "#8c510a", "#dfc27d", "#c51b7d", "#f1b6da", "#762a83"]
_B_COLORS = ["#2166ac", "#92c5de", "#1b7837", "#a6dba0", "#35978f", "#80cdc1", "#5e3c99", "#b2abd2"]


def plot_loop_scores(shares: pd.DataFrame, periods: pd.DataFrame, analysis: LoopAnalysis, *, title: str,
                     axes=None, top: int = 8, coverage: pd.Series | None = None,
                     mdl_path: str | Path = MODEL_PATH):
    """Loop scores over time for one output, with its dominant loops.

    Upper panel: the absolute shares (stacked) of the ``top`` loops with the
    largest mean share, the rest grouped as "other loops"; reds are
    reinforcing, blues and greens balancing; the dashed line is ``coverage``,
    the part of the cycle partition's loop-score mass these loops carry.
    Lower panel: for each of these loops, the years in which it belongs to
    the dominant set (the loops of ``periods``); "other loops" marks years in
    which other loops do.

    Parameters
    ----------
    shares : pandas.DataFrame
        Renormalised signed shares of the output's loops (from
        :func:`dominance_table`); ``attrs["coverage"]`` is used when
        ``coverage`` is not given.
    periods : pandas.DataFrame
        Rows of the dominance table for this output.
    analysis : LoopAnalysis
    title : str
    axes : pair of matplotlib.axes.Axes, optional
    top : int
        Loops drawn individually.

    Returns
    -------
    pair of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(11, 6.8), height_ratios=[3, 1.4], sharex=True)
    ax, ax2 = axes
    loops = analysis.by_id
    mag = shares.abs()
    if coverage is None:
        coverage = shares.attrs.get("coverage")
    chosen = list(mag.mean().sort_values(ascending=False).index[:top])
    chosen.sort(key=lambda i: (loops[i].polarity != "B", -mag[i].mean()))
    colors, r_i, b_i = {}, 0, 0
    for lid in chosen:
        if loops[lid].polarity == "R":
            colors[lid] = _R_COLORS[r_i % len(_R_COLORS)]
            r_i += 1
        else:
            colors[lid] = _B_COLORS[b_i % len(_B_COLORS)]
            b_i += 1
    other = mag.drop(columns=chosen).sum(axis=1)
    years = mag.index.to_numpy(dtype=float)
    doc = model_doc(Path(mdl_path))
    desc = {lid: describe_loop(loops[lid], mdl_path, 4) for lid in chosen}
    for lid in chosen:  # tell apart loops whose short descriptions coincide
        twins = [o for o in chosen if o != lid and desc[o].split(" (via ")[0] == desc[lid].split(" (via ")[0]]
        if twins:
            others = set().union(*(loops[o].variables for o in twins))
            own = [v for v in loops[lid].variables if v not in others]
            if own:
                desc[lid] += f" (via {_display(own[0], doc)})"
    labels = [textwrap.fill(f"{lid} ({loops[lid].polarity}) {desc[lid]}", 72, subsequent_indent="    ")
              for lid in chosen]
    ax.stackplot(years, *[mag[c].to_numpy() for c in chosen], other.to_numpy(),
                 colors=[colors[c] for c in chosen] + ["#e3e3e3"],
                 labels=[*labels, f"other loops ({mag.shape[1] - len(chosen)})"], alpha=0.95, lw=0)
    if coverage is not None:
        cov = coverage.reindex(mag.index)
        ax.plot(years, cov.to_numpy(), color="black", ls="--", lw=1.2,
                label="these loops' part of all loop activity in their cycle partition")
    ax.set_ylim(0, 1)
    ax.set_ylabel("share among the output's loops")
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False)
    ax.margins(x=0)
    # which of these loops belong to the dominant set, year by year
    rows = [*chosen, "other loops"]
    for _, p in periods.iterrows():
        members = p["dominant_loops"].split()
        for lid in {m if m in colors else "other loops" for m in members}:
            ax2.barh(rows.index(lid), p["end_year"] - p["start_year"] + 1, left=p["start_year"] - 0.5,
                     height=0.75, color=colors.get(lid, "#9e9e9e"), lw=0)
    ax2.set_yticks(range(len(rows)))
    ax2.set_yticklabels([r if r == "other loops" else f"{r} {loops[r].polarity}"
                         + (f" {loops[r].name}" if loops[r].name else "") for r in rows], fontsize=7)
    ax2.set_ylim(len(rows) - 0.5, -0.5)
    ax2.set_title("in the dominant set (fewest same-polarity loops with at least half the share)",
                  loc="left", fontsize=8)
    ax2.set_xlabel("year")
    ax2.set_xlim(years.min() - 0.5, years.max() + 0.5)
    ax2.grid(axis="x", alpha=0.3)
    return ax, ax2


def plot_knockouts(table: pd.DataFrame, axes=None, title: str | None = None):
    """Effect of cutting each named loop on each indicator (one panel per indicator).

    Bars are the change from the uncut run (years for a peak year, else per
    cent); red for reinforcing loops, blue for balancing ones.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`knockouts`.
    axes : array of matplotlib.axes.Axes, optional
        One per indicator.
    title : str, optional
        Figure title.

    Returns
    -------
    array of matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    inds = list(dict.fromkeys(table["indicator"]))
    if axes is None:
        _, axes = plt.subplots(1, len(inds), figsize=(3.3 * len(inds) + 1.5, 4.4), sharey=True)
    axes = np.atleast_1d(axes)
    loops = list(dict.fromkeys(table["loop"]))
    for ax, ind in zip(axes, inds, strict=True):
        sub = table[table["indicator"] == ind].set_index("loop").loc[loops]
        years = ind.endswith("year")
        vals = sub["change"] if years else sub["change_pct"]
        colors = ["#b2182b" if p == "R" else "#2166ac" for p in sub["polarity"]]
        y = np.arange(len(loops))
        ax.barh(y, vals.to_numpy(), color=colors)
        ax.axvline(0, color="black", lw=0.8)
        span = max(float(np.nanmax(np.abs(vals.to_numpy()))), 1e-9)
        for yi, v in zip(y, vals.to_numpy(), strict=True):
            if years:
                txt = "0 yr" if round(v) == 0 else f"{v:+.0f} yr"
            else:
                txt = "0.0%" if abs(v) < 0.05 else f"{v:+.1f}%"
            ax.text(v + (0.04 * span if v >= 0 else -0.04 * span), yi, txt, va="center",
                    ha="left" if v >= 0 else "right", fontsize=7.5)
        ax.set_xlim(-1.6 * span, 1.6 * span)
        base = sub["base"].iloc[0]
        unit = sub["unit"].iloc[0]
        ax.set_title(f"{ind}\n(uncut: {base:.0f})" if years else f"{ind}\n(uncut: {base:,.1f} {unit})",
                     fontsize=9)
        ax.set_xlabel("change, years" if years else "change, %")
        ax.grid(axis="x", alpha=0.3)
    pol = dict(zip(table["loop"], table["polarity"], strict=False))
    axes[0].set_yticks(np.arange(len(loops)))
    axes[0].set_yticklabels([f"({pol[lp]}) {lp}" for lp in loops])
    axes[0].invert_yaxis()
    if title:
        axes[0].figure.suptitle(title, fontsize=10, y=1.03)
    return axes
