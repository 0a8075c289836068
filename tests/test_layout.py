"""The shape of the house (../shared/DESIGN.md): each package names its public API, data flows one
way between the packages, and no modules import each other in a loop."""

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["corpus", "models", "training", "eval", "service"]
# what each package may import (eval/bench/ may import everything: it trains and serves to measure)
ALLOWED = {"corpus": {"corpus"}, "models": {"corpus", "models"},
           "training": {"corpus", "models", "training"}, "eval": {"corpus", "models", "eval"},
           "service": set(PACKAGES)}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports() -> dict[str, set[str]]:
    """Module -> our modules it imports, at the top or inside functions."""
    modules = _modules()
    graph = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


@pytest.mark.parametrize("package", sorted(name for name, path in _modules().items()
                                            if path.name == "__init__.py"
                                            and "migrations" not in name))
def test_every_package_names_its_public_api(package):
    """Each name in ``__all__`` is an attribute of the package or one of its modules."""
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        found = getattr(module, name, None) or importlib.import_module(f"{package}.{name}")
        assert found is not None, f"{package}.{name}"


def test_packages_import_only_to_their_left():
    wrong = sorted((a, b) for a, targets in _imports().items() for b in targets
                   if not a.startswith("eval.bench") and
                   b.split(".")[0] not in ALLOWED[a.split(".")[0]])
    assert wrong == []


def test_no_modules_import_each_other_in_a_loop():
    graph = _imports()
    loops = []

    def reach(start, node, seen):
        for nxt in graph.get(node, ()):
            if nxt == start:
                loops.append(start)
                return
            if nxt not in seen:
                seen.add(nxt)
                reach(start, nxt, seen)

    for module in sorted(graph):
        reach(module, module, {module})
    assert loops == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_two_modules_share_a_name_within_a_package(package):
    names = [p.stem for p in (ROOT / package).rglob("*.py")
             if p.stem != "__init__" and "migrations" not in p.parts]
    assert sorted({n for n in names if names.count(n) > 1}) == []
