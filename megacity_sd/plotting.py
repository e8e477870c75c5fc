"""Figures: pure functions (long table, axes) -> axes, and one writer.

All functions read the project's long table (``city, scenario, variable,
unit, year, value``). :func:`write_run_figures` writes the standard set for a
city. Every figure of the package is saved by :func:`savefig_atomic`, to a
temporary name then renamed, in the format and resolution that
:func:`figure_format` sets (PNG at 150 dpi by default; the command line's
``--format`` and ``--dpi``). Text falls back to a CJK font for Chinese names:
the first of Noto Sans CJK, Source Han Sans, WenQuanYi, SimHei, Microsoft
YaHei, PingFang that is installed, else the Noto Sans CJK SC that the
``mplfonts`` package ships (a test dependency; ``pip install mplfonts`` or
Debian's ``fonts-noto-cjk`` for users).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from .data import history, table  # noqa: E402
from .io import write_atomic  # noqa: E402
from .units import display_of  # noqa: E402

__all__ = ["plot_lines", "plot_stack", "write_run_figures", "savefig_atomic", "figure_format", "FORMATS",
           "cjk_font", "declutter"]

FORMATS = ("png", "svg", "pdf")
_SAVE = {"format": "png", "dpi": 150}
_CJK_NAMES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Source Han Sans CN",
              "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC")


def cjk_font() -> str | None:
    """The family name of a font with Chinese glyphs, registering mplfonts' Noto Sans CJK SC if needed."""
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    for name in _CJK_NAMES:
        if name in have:
            return name
    try:
        import mplfonts
    except ImportError:
        return None
    path = Path(mplfonts.__file__).parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    if not path.is_file():
        return None
    font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


_CJK = cjk_font()
STYLE = {"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
         "axes.spines.right": False, "font.size": 9, "legend.fontsize": 8, "legend.frameon": False,
         # a list of families: matplotlib takes each glyph from the first family that has it
         "font.family": ["DejaVu Sans", *([_CJK] if _CJK else [])],
         "pdf.fonttype": 42, "svg.fonttype": "path"}


@contextmanager
def figure_format(fmt: str = "png", dpi: int = 150):
    """Save the figures written inside the block as ``fmt`` (png, svg or pdf) at ``dpi`` dots per inch."""
    if fmt not in FORMATS:
        raise ValueError(f"figure format must be one of {FORMATS}, not {fmt!r}")
    old = dict(_SAVE)
    _SAVE.update(format=fmt, dpi=int(dpi))
    try:
        yield
    finally:
        _SAVE.update(old)
COLORS = {"baseline": "#444444", "energy_structure": "#d95f02", "transport": "#1b9e77",
          "buildings": "#7570b3", "combined": "#e7298a", "end_of_pipe": "#66a61e"}


def _series(long: pd.DataFrame, variable: str, scenario: str) -> pd.Series:
    sel = long[(long["variable"] == variable) & (long["scenario"] == scenario)]
    return sel.set_index("year")["value"].sort_index()


def plot_lines(long: pd.DataFrame, variable: str, ax, *, scale: float = 1.0, unit: str = "",
               title: str | None = None, hist: pd.DataFrame | None = None, hist_scale: float = 1.0):
    """One line per scenario of ``variable``; optional historical points.

    Parameters
    ----------
    scale, unit : float, str
        Multiplier from model units and the axis label (the variable's display
        unit: ``*megacity_sd.units.display_of(variable)``).
    hist_scale : float
        Multiplier of the historical values.

    Returns
    -------
    matplotlib.axes.Axes
    """
    scens = list(long["scenario"].unique())
    for scen in scens:  # the baseline on top of the others, dashed, so that no scenario hides it
        s = _series(long, variable, scen) * scale
        base = scen == "baseline"
        ax.plot(s.index, s.to_numpy(), label=scen, color=COLORS.get(scen), lw=2.0 if base else 1.4,
                ls="--" if base and len(scens) > 1 else "-", zorder=3 if base else 2)
    if hist is not None and not hist.empty:
        ax.plot(hist["year"], hist["value"] * hist_scale, "o", ms=3, color="black", label="history")
    ax.set_title(title or variable)
    ax.set_ylabel(unit)
    ax.set_ylim(bottom=0)
    return ax


def plot_stack(long: pd.DataFrame, variables: dict[str, str], scenario: str, ax, *,
               scale: float = 1.0, unit: str = "", title: str | None = None):
    """Stacked areas of several variables for one scenario.

    Parameters
    ----------
    variables : dict of str to str
        Label -> model variable name.
    scale, unit : float, str
        Multiplier from model units and the axis label (the variables' display
        unit, :func:`megacity_sd.units.display_of`).
    """
    data = [_series(long, var, scenario) * scale for var in variables.values()]
    ax.stackplot(data[0].index, *[d.to_numpy() for d in data], labels=list(variables), alpha=0.85)
    ax.set_title(title or scenario)
    ax.set_ylabel(unit)
    return ax


def declutter(ax, texts, *, step: float = 2.0, max_moves: int = 40) -> None:
    """Move point labels (annotations in offset points) apart until none overlaps another.

    Labels are placed in order; each one that overlaps a label already placed
    is moved away from its point, alternately down and up in growing steps,
    until it is clear (or after ``max_moves`` tries).
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    placed = []
    for t in texts:
        x0, y0 = t.xyann
        for k in range(max_moves + 1):
            box = t.get_window_extent(renderer).expanded(1.02, 1.1)
            if not any(box.overlaps(b) for b in placed):
                break
            shift = (k // 2 + 1) * (box.height * 72.0 / fig.dpi + step) * (-1 if k % 2 == 0 else 1)
            t.xyann = (x0, y0 + shift)
        placed.append(t.get_window_extent(renderer))


def savefig_atomic(fig, path: Path, *, tight_png=None) -> Path:
    """Save a figure to a temporary name, then rename it into place.

    The suffix of ``path`` becomes the format :func:`figure_format` sets
    (``.png`` by default); the returned path is the file written.
    ``tight_png(fig, dpi)``, when given, returns the bounding box (inches)
    that ``bbox_inches="tight"`` would find for a PNG; savefig then draws the
    figure once instead of twice.
    """
    fmt, dpi = _SAVE["format"], _SAVE["dpi"]
    try:
        bbox = tight_png(fig, dpi) if tight_png is not None and fmt == "png" else "tight"
        return write_atomic(Path(path).with_suffix(f".{fmt}"),
                            lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches=bbox), f".{fmt}")
    finally:
        plt.close(fig)


FIGSIZE = (12.0, 7.0)  # inches: every panel grid has this size, whatever the number of scenarios


def _grid(n: int):
    cols = 1 if n == 1 else 2 if n <= 4 else 3 if n <= 9 else 4
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=FIGSIZE, squeeze=False, sharey=True, layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


#: The stacked-area figures of a run: (label -> model variable, title, file name); the unit is the first variable's.
_STACKS = (
    ({"coal": "primary coal", "oil": "primary oil", "gas": "primary gas", "local PV": "primary PV electricity",
      "imported electricity": "primary imported electricity",
      "green-hydrogen power": "primary green hydrogen electricity",
      "clean transport fuels": "primary clean transport fuels"},
     "energy supply by source (electricity at calorific value)", "energy_mix"),
    ({"power and heat": "CO2 power and heat", "industry": "CO2 industry", "transport sector": "CO2 transport",
      "households and commerce": "CO2 buildings and households", "scope 2 (imports)": "scope 2 CO2"},
     "CO2 by sector (scope 1, CEADs sectors) and scope 2", "co2_by_sector"),
)


def write_run_figures(long: pd.DataFrame, out_dir: str | Path) -> list[Path]:
    """Write the standard figures of ``megacity-sd run`` for each city in ``long``.

    Returns
    -------
    list of Path
        The files written: ``<city>_emissions.png``, ``_energy_mix``,
        ``_co2_by_sector``, ``_fleet``, ``_floor_area``, ``_pm25``,
        ``_population_gdp``.
    """
    out_dir = Path(out_dir)
    written = []
    with plt.rc_context(STYLE):
        for city, lc in long.groupby("city", sort=False):
            # categories: the figures select by variable and scenario hundreds of times (same rows, same order)
            lc = lc.astype({"variable": "category", "scenario": "category"})
            scens = list(lc["scenario"].unique())
            hist = history(city)
            # emissions
            fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), layout="constrained")
            specs = [("CO2 scope 1 and 2", "CO2, scope 1+2 (headline)", None),  # history in model units
                     ("CO2 emissions", "CO2, scope 1 (territorial, as CEADs)", "co2"),
                     ("scope 2 CO2", "CO2, scope 2 (imported electricity)", None),
                     ("SO2 emissions", "SO2 emissions", None),
                     ("NOx emissions", "NOx emissions", None),
                     ("primary PM25 emissions", "Primary PM2.5 emissions", None)]
            for ax, (var, title, hv) in zip(axes.flat, specs, strict=True):
                sc, unit = display_of(var)
                plot_lines(lc, var, ax, scale=sc, unit=unit, title=title,
                           hist=hist[hist["variable"] == hv] if hv else None, hist_scale=sc)
            axes.flat[0].legend(loc="lower left", ncol=2)
            fig.suptitle(f"{city}: emissions by scenario")
            written.append(savefig_atomic(fig, out_dir / f"{city}_emissions.png"))
            # stacked areas per scenario: the energy mix; CO2 by sector (scope 1) and scope 2
            for parts, title, name in _STACKS:
                sc, unit = display_of(next(iter(parts.values())))
                fig, axes = _grid(len(scens))
                for ax, scen in zip(axes, scens, strict=True):
                    plot_stack(lc, parts, scen, ax, scale=sc, unit=unit)
                axes[0].legend(loc="upper left")
                fig.suptitle(f"{city}: {title}")
                written.append(savefig_atomic(fig, out_dir / f"{city}_{name}.png"))
            # fleet
            fig, axes = plt.subplots(3, len(scens), figsize=(14.0, 7.5), squeeze=False, sharey="row",
                                     layout="constrained")
            fleets = ({"ICE cars": "ICE cars", "NEV cars": "NEV cars"},
                      {"diesel": "diesel buses", "CNG": "CNG buses", "electric": "electric buses"},
                      {"diesel": "diesel trucks", "battery-electric": "electric trucks",
                       "fuel-cell": "hydrogen trucks"})
            for j, scen in enumerate(scens):
                for i, parts in enumerate(fleets):  # cars in millions, buses and trucks in thousands
                    sc, unit = display_of(next(iter(parts.values())))
                    plot_stack(lc, parts, scen, axes[i, j], scale=sc, unit=unit, title=None if i == 0 else "")
            for i in range(3):
                axes[i, 0].legend(loc="upper left")
            fig.suptitle(f"{city}: vehicle fleet by technology")
            written.append(savefig_atomic(fig, out_dir / f"{city}_fleet.png"))
            # floor area
            fig, axes = _grid(len(scens))
            sc, unit = display_of("conventional floor area")
            for ax, scen in zip(axes, scens, strict=True):
                plot_stack(lc, {"conventional": "conventional floor area", "retrofitted": "retrofitted floor area",
                                "green": "green floor area"}, scen, ax, scale=sc, unit=unit)
            axes[0].legend(loc="upper left")
            fig.suptitle(f"{city}: building floor area by class")
            written.append(savefig_atomic(fig, out_dir / f"{city}_floor_area.png"))
            # PM2.5
            fig, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
            sc, unit = display_of("PM25")
            plot_lines(lc, "PM25", ax, scale=sc, unit=unit, title=f"{city}: annual mean PM2.5 (concentration)")
            ax.axhline(35, color="red", lw=0.8, ls="--", label="GB 3095-2012 Grade II (35)")
            ax.axhline(5, color="0.4", lw=0.8, ls=":", label="WHO 2021 guideline (5)")
            obs = table("pm25_bulletins", city, "pm25")
            ax.plot(obs["year"], obs["value"] * sc, "o", ms=3, mfc="white", color="black",
                    label="environment bulletins")
            ax.legend(ncol=2)
            written.append(savefig_atomic(fig, out_dir / f"{city}_pm25.png"))
            # population and GDP
            fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
            sc, unit = display_of("Population")
            plot_lines(lc, "Population", axes[0], scale=sc, unit=unit, title="Resident population",
                       hist=hist[hist["variable"] == "population"], hist_scale=sc)
            sc, unit = display_of("GDP")
            plot_lines(lc, "GDP", axes[1], scale=sc, unit=unit, title="GDP (constant 2005 prices)")
            axes[0].legend(ncol=2)
            fig.suptitle(f"{city}: population and GDP")
            written.append(savefig_atomic(fig, out_dir / f"{city}_population_gdp.png"))
    return written
