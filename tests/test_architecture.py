"""The package's shape, read from the source (nothing imported, no models): no import
cycles, layers that point down, integrations and examples on the public API only, and
modules of a readable size. The import graph comes from tools/import_graph.py."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import import_graph  # noqa: E402
from import_graph import Edge  # noqa: E402

PACKAGE = ROOT / "agentmem"
MAX_MODULE_LINES = 500
MAX_MEMORY_LINES = 400
#: storage and index are the bottom layers: they know nothing of what is built on them
LOWER_LAYERS = ("agentmem.storage", "agentmem.index")
UPPER_LAYERS = ("agentmem.stores", "agentmem.strategies", "agentmem.memory",
                "agentmem._core", "agentmem._memory", "agentmem.ranking")
#: only these (and the package entry points) may import eval and integrations
LEAVES = ("agentmem.eval", "agentmem.integrations")
#: (the server's LangGraph store route runs the store integration, imported only when
#: LangGraph is installed)
LEAF_USERS = ("agentmem.eval", "agentmem.cli", "agentmem.integrations",
              "agentmem.service.store_route")
ENTRY_POINTS = frozenset({"agentmem.__main__", "agentmem.eval.__main__"})
#: NamedTuple's documented public methods and attributes, underscored so as not to clash
#: with field names (LangGraph's operations are NamedTuples: ``op._replace(...)``)
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_make", "_fields", "_field_defaults"})


def within(module: str, prefixes: Iterable[str]) -> bool:
    """Whether ``module`` is one of ``prefixes`` or inside one of them."""
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def describe(edges: Iterable[Edge]) -> str:
    return "\n".join(f"  {e.source} -> {e.target} (line {e.line}, {e.kind})"
                     for e in edges)


def consumer_files() -> list[Path]:
    """The integrations and the examples: code that should use only the public API."""
    return sorted((PACKAGE / "integrations").glob("*.py")) + sorted(
        (ROOT / "examples").glob("*.py"))


def test_no_import_cycles() -> None:
    """Every edge counts, TYPE_CHECKING and function-level imports included: a cycle
    hidden behind either is still a cycle."""
    graph = import_graph.module_graph(ROOT)
    components = import_graph.cycles(graph)
    edges = import_graph.import_edges(ROOT)
    lines = []
    for component in components:
        members = set(component)
        lines.append(f"cycle over {len(component)} modules: "
                     + " -> ".join(import_graph.cycle_path(graph, component)))
        lines.append(describe(e for e in edges
                              if e.source in members and e.target in members))
    assert not components, "import cycles among agentmem modules:\n" + "\n".join(lines)


def test_lower_layers_do_not_import_upper_layers() -> None:
    bad = [e for e in import_graph.import_edges(ROOT)
           if within(e.source, LOWER_LAYERS) and within(e.target, UPPER_LAYERS)]
    assert not bad, "storage/index import the layers above them:\n" + describe(bad)


def test_eval_and_integrations_are_leaves() -> None:
    """Nothing in the library imports the evaluation harness or the integrations,
    except the command lines and the two themselves."""
    bad = [e for e in import_graph.import_edges(ROOT)
           if within(e.target, LEAVES) and not within(e.source, LEAF_USERS)
           and e.source not in ENTRY_POINTS]
    assert not bad, "the library imports eval or integrations:\n" + describe(bad)


def test_integrations_and_examples_do_not_import_storage() -> None:
    modules = import_graph.module_files(ROOT)
    bad: list[str] = []
    for path in consumer_files():
        name = import_graph.module_name(path, ROOT) if path.is_relative_to(PACKAGE) else ""
        package = name.rpartition(".")[0] if name and path.name != "__init__.py" else name
        for edge in import_graph.file_imports(path, modules, package):
            if within(edge.target, ("agentmem.storage",)):
                bad.append(f"  {path.relative_to(ROOT)}:{edge.line} imports {edge.target}"
                           f" ({edge.kind})")
    assert not bad, "integrations/examples reach into agentmem.storage:\n" + "\n".join(bad)


def _module_level_names(tree: ast.Module) -> set[str]:
    """Names the module itself binds at top level (defs, classes, assignments,
    imports): its own private names may be reached as attributes."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def private_attribute_uses(path: Path) -> list[str]:
    """``x._name`` (one leading underscore, not a dunder) in ``path``, except on
    ``self``/``cls``, on a class of this file, for a name this file binds at top level,
    and NamedTuple's underscored public API."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    own = _module_level_names(tree)
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or (attr.startswith("__") and attr.endswith("__")):
            continue
        receiver = node.value
        if isinstance(receiver, ast.Name) and (receiver.id in {"self", "cls"}
                                               or receiver.id in classes):
            continue
        if attr in own or attr in NAMEDTUPLE_API:
            continue
        found.append((node.lineno, f"  {path.relative_to(ROOT)}:{node.lineno}: "
                                   f"{ast.unparse(node)}"))
    return [line for _, line in sorted(found)]


def test_integrations_and_examples_use_no_private_attributes() -> None:
    bad = [line for path in consumer_files() for line in private_attribute_uses(path)]
    assert not bad, ("integrations/examples use private attributes of other objects:\n"
                     + "\n".join(bad))


def test_module_sizes() -> None:
    """At most 500 lines a module; the facade, agentmem/memory.py, at most 400."""
    counts = import_graph.line_counts(ROOT)
    limits = {m: MAX_MEMORY_LINES if m == "agentmem.memory" else MAX_MODULE_LINES
              for m in counts}
    problems = [f"  {m}: {n} lines (limit {limits[m]})" for m, n in counts.items()
                if n > limits[m]]
    assert not problems, "modules too large:\n" + "\n".join(problems)


def test_the_graph_sees_known_imports() -> None:
    """A guard on the tool itself: the graph is not empty, and the package's
    ``__init__`` is seen importing the facade (so the tests above are not vacuous)."""
    graph = import_graph.module_graph(ROOT)
    assert "agentmem" in graph and "agentmem.errors" in graph
    assert "agentmem.errors" in graph["agentmem"]
    assert sum(len(v) for v in graph.values()) > 50


def test_the_graph_tool_on_a_small_tree(tmp_path: Path) -> None:
    """Relative imports, submodules named in ``from . import``, TYPE_CHECKING and
    function-level imports, on a package made up for the purpose."""
    files = {
        "__init__.py": "from .core import Core\n",
        "core.py": "from typing import TYPE_CHECKING\nfrom .sub import helper\n"
                   "if TYPE_CHECKING:\n    from .top import Top\n",
        "top.py": "def f():\n    from . import core\n",
        "sub/__init__.py": "",
        "sub/helper.py": "from ..errors import Oops\n",
        "errors.py": "class Oops(Exception):\n    pass\n",
    }
    for name, text in files.items():
        path = tmp_path / "agentmem" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    edges = {(e.source, e.target): e.kind for e in import_graph.import_edges(tmp_path)}
    assert edges == {
        ("agentmem", "agentmem.core"): "module",
        ("agentmem.core", "agentmem.sub.helper"): "module",
        ("agentmem.core", "agentmem.top"): "TYPE_CHECKING",
        ("agentmem.top", "agentmem.core"): "lazy",
        ("agentmem.sub.helper", "agentmem.errors"): "module",
    }
    graph = import_graph.module_graph(tmp_path)
    assert import_graph.cycles(graph) == [["agentmem.core", "agentmem.top"]]
    assert import_graph.cycles(import_graph.module_graph(tmp_path, type_checking=False)) == []
    assert import_graph.cycle_path(graph, ["agentmem.core", "agentmem.top"]) == [
        "agentmem.core", "agentmem.top", "agentmem.core"]
