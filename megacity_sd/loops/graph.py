"""Causal links and their polarity (pysimlin), loop enumeration (networkx) and the named loops of the model."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserInputError
from ..model import MODEL_PATH, canonical, check_constant, model_doc

if TYPE_CHECKING:  # annotations only: pandas is imported where tables are made
    import pandas as pd

__all__ = [
    "CausalLink",
    "NamedLoop",
    "FeedbackLoop",
    "LoopAnalysis",
    "configured_model",
    "causal_links",
    "MAX_LOOP_LENGTH",
    "elementary_circuits",
    "named_loops",
    "find_loops",
    "find_loops_cached",
    "describe_loop",
    "loops_frame",
]


#: Separator pysimlin uses in the names of its internal nodes (SMOOTH stocks, LTM helpers).
_INTERNAL = "\u205a"


_SIGN = {"+": 1, "-": -1, "?": 0}


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


def find_loops_cached(constants: Mapping[str, float] | None = None,
                      mdl_path: str | Path = MODEL_PATH) -> LoopAnalysis:
    """:func:`find_loops` of :func:`configured_model` ``(constants, mdl_path)``, kept on disk.

    Finding the loops loads the model in pysimlin, runs it with LTM and
    enumerates the circuits (about a second, most of ``megacity-sd explain``);
    the links and loops are kept in :func:`~megacity_sd.model.cache_dir` as
    JSON, keyed by the hash of the model text, the constants, the versions of
    pysimlin, networkx and PySD and the source of this module and of
    :mod:`megacity_sd.model` (written to a temporary name, then renamed). An
    unwritable cache only costs the search.

    Returns
    -------
    LoopAnalysis
        Without scores, as :func:`find_loops` returns it.
    """
    import hashlib
    import json
    from importlib.metadata import version

    from .. import model as model_module
    from ..model import cache_dir

    mdl_path = Path(mdl_path)
    consts = sorted((str(k), repr(float(v))) for k, v in (constants or {}).items())
    text = b"\0".join([mdl_path.read_bytes(), json.dumps(consts).encode(),
                       f"loops-1 {version('pysimlin')} {version('networkx')} {version('pysd')}".encode(),
                       Path(__file__).read_bytes(), Path(model_module.__file__).read_bytes()])
    cached = cache_dir() / "loops" / f"{mdl_path.stem}-{hashlib.sha256(text).hexdigest()[:16]}.json"
    try:
        data = json.loads(cached.read_text(encoding="utf-8"))
        return LoopAnalysis(
            loops=[FeedbackLoop(i, tuple(v), tuple(s), p, n, tuple(sw)) for i, v, s, p, n, sw in data["loops"]],
            links={(a, b): CausalLink(a, b, pol, st, fr) for a, b, pol, st, fr in data["links"]},
            named=[NamedLoop(sw, n, p, path, tuple(tuple(lk) for lk in links))
                   for sw, n, p, path, links in data["named"]])
    except (OSError, ValueError, TypeError, KeyError):
        pass
    analysis = find_loops(configured_model(constants, mdl_path), mdl_path=mdl_path)
    data = {"loops": [[lp.id, lp.variables, lp.signs, lp.polarity, lp.name, lp.switches] for lp in analysis.loops],
            "links": [[lk.source, lk.target, lk.polarity, lk.static, lk.from_run] for lk in analysis.links.values()],
            "named": [[nl.switch, nl.name, nl.polarity, nl.path, nl.links] for nl in analysis.named]}
    from ..io import write_text_atomic

    try:
        write_text_atomic(json.dumps(data), cached, now=True)
    except OSError:
        pass
    return analysis


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
    import pandas as pd

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
