"""Names of a package imported on first use (PEP 562), for packages whose command-line parser needs a light name.

``decompose`` and ``synergy`` hand out a few constants (``POLLUTANTS``, ``DEFAULT_YEARS``) that building the
command line's parser reads; importing the rest would pull in numpy and pandas for ``megacity-sd --help``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence

__all__ = ["package_getattr"]


def package_getattr(package: str, exports: Mapping[str, Sequence[str]], light: str) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports a package's submodules when one of their names is first asked for.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to sequence of str
        Submodule -> the names the package hands out from it.
    light : str
        The submodule imported alone (no heavy imports). Asking for any other name imports every other
        submodule at once and binds their names after all the imports, as an eager ``__init__`` does: so that,
        e.g., ``decompose.lmdi`` is the function ``lmdi`` and not the submodule that importing it sets on the
        package.

    Returns
    -------
    callable
        To assign to the package's ``__getattr__``.
    """
    import sys

    def __getattr__(name: str):
        module = next((m for m, names in exports.items() if name in names), None)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        modules = [module] if module == light else [m for m in exports if m != light]
        loaded = [importlib.import_module(f".{m}", package) for m in modules]
        namespace = vars(sys.modules[package])
        for m, mod in zip(modules, loaded, strict=True):
            namespace.update({n: getattr(mod, n) for n in exports[m]})
        return namespace[name]

    return __getattr__
