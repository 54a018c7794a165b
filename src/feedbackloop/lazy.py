"""Package names that load on first use (:pep:`562`), so that importing a light part of a package does
not import its heavy parts: the CLI builds every command without the connectors' HTTP stacks, and the
CRM email mappers use ``engine.objections`` without scipy and statsmodels."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each exported name from its submodule
    (``homes``: name -> submodule) on first access and keeps it in the package."""

    def load(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return load
