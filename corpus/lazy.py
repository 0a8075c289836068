"""Packages whose public names are imported on first use (PEP 562), so that importing one module of
a package does not load all the others."""

from __future__ import annotations

from importlib import import_module


def lazy_exports(package: str, exports: dict[str, str]):
    """``__all__`` and ``__getattr__`` for ``package``: ``exports`` maps each public name to the
    module that defines it."""

    def __getattr__(name: str):
        if name in exports:
            return getattr(import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(exports), __getattr__
