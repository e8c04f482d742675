"""The import graph of the agentmem package, read from the source with ``ast``.

    python tools/import_graph.py [--root DIR] [--markdown] [--out FILE]

Nothing is imported: every ``.py`` under ``DIR/agentmem`` is parsed, and each import
statement (and each ``importlib.import_module("agentmem...")`` with a literal name) is
resolved to the agentmem modules it loads:

* ``import agentmem.a.b`` and ``from agentmem.a.b import X`` import ``agentmem.a.b``
  (a package counts as its ``__init__``, which is named like the package);
* ``from .a import b`` where ``b`` is a submodule imports that submodule; where ``b``
  is a name defined in ``a``, it imports ``a``;
* relative imports are resolved against the importing module's package.

Parent packages that Python also executes on the way are not counted (otherwise every
module would import ``agentmem/__init__.py`` and everything would be one cycle).

Every edge records whether it sits under ``if TYPE_CHECKING:`` and whether it is at
module level or inside a function (a lazy import). Cycles are computed over all edges:
an import cycle hidden behind ``TYPE_CHECKING`` or a lazy import is still a cycle.

The report (plain text, or markdown with ``--markdown``; to stdout, or to ``--out``):
module line counts, largest first; the strongly connected components of more than one
module, each with one concrete cycle and the edges inside it; and which top-level
subpackages import which (``storage -> errors, types``).

The functions (``module_files``, ``import_edges``, ``module_graph``, ``cycles``,
``cycle_path``, ``line_counts``, ``package_graph``, ``file_imports``) are what
tests/test_architecture.py uses.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "agentmem"


@dataclass(frozen=True, order=True)
class Edge:
    """One import of agentmem module ``target`` by ``source`` at ``line``."""

    source: str
    target: str
    line: int
    type_checking: bool  # under ``if TYPE_CHECKING:``
    lazy: bool  # inside a function (including a method, or a module ``__getattr__``)
    dynamic: bool = False  # ``importlib.import_module("...")``

    @property
    def kind(self) -> str:
        """``module``, or what makes the edge special: ``TYPE_CHECKING``, ``lazy``,
        ``dynamic`` (combined with ``+``)."""
        parts = [name for name, flag in (("TYPE_CHECKING", self.type_checking),
                                         ("lazy", self.lazy), ("dynamic", self.dynamic))
                 if flag]
        return "+".join(parts) or "module"


def module_name(path: Path, root: Path) -> str:
    """``agentmem/a/b.py`` -> ``agentmem.a.b``; ``agentmem/a/__init__.py`` ->
    ``agentmem.a``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_files(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name."""
    root = Path(root)
    return {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))
            if "__pycache__" not in p.parts}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@dataclass(frozen=True)
class _RawImport:
    line: int
    module: str | None  # absolute dotted name; None when it could not be resolved
    names: tuple[str, ...]  # the names of ``from module import names``; () for import
    type_checking: bool
    lazy: bool
    dynamic: bool = False


def _raw_imports(tree: ast.Module, package: str) -> Iterator[_RawImport]:
    """The import statements of ``tree`` with their context; relative imports resolved
    against ``package`` (the package the module belongs to)."""

    def resolve(node: ast.ImportFrom) -> str | None:
        if node.level == 0:
            return node.module
        base = package.split(".")
        if node.level - 1 > len(base) - 1:
            return None
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)

    def walk(nodes: Iterable[ast.AST], tc: bool, lazy: bool) -> Iterator[_RawImport]:
        for node in nodes:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield _RawImport(node.lineno, alias.name, (), tc, lazy)
            elif isinstance(node, ast.ImportFrom):
                yield _RawImport(node.lineno, resolve(node),
                                 tuple(a.name for a in node.names), tc, lazy)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                yield from walk(node.body, True, lazy)
                yield from walk(node.orelse, tc, lazy)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                # decorators and defaults run when the def runs; the body when called
                outer = [*getattr(node, "decorator_list", []), node.args]
                yield from walk(outer, tc, lazy)
                body = node.body if isinstance(node.body, list) else [node.body]
                yield from walk(body, tc, True)
            else:
                if isinstance(node, ast.Call) and _is_import_module(node):
                    arg = node.args[0]
                    assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    yield _RawImport(node.lineno, arg.value, (), tc, lazy, dynamic=True)
                yield from walk(ast.iter_child_nodes(node), tc, lazy)

    yield from walk(tree.body, False, False)


def _is_import_module(node: ast.Call) -> bool:
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id == "import_module")
    return named and len(node.args) >= 1 and isinstance(node.args[0], ast.Constant) \
        and isinstance(node.args[0].value, str) and not node.args[0].value.startswith(".")


def _targets(raw: _RawImport, modules: Mapping[str, object]) -> set[str]:
    """The agentmem modules one import statement loads (see the module docstring)."""
    if raw.module is None:
        return set()
    found: set[str] = set()
    if raw.names:
        whole = False
        for name in raw.names:
            sub = f"{raw.module}.{name}"
            if name != "*" and sub in modules:
                found.add(sub)
            else:
                whole = True
        if whole:
            found.add(raw.module)
    else:
        found.add(raw.module)
    resolved = set()
    for name in found:
        # the longest prefix that is a module (``import agentmem.a.b.Thing`` is no
        # valid statement, but an unknown tail should not hide the edge)
        parts = name.split(".")
        while parts and ".".join(parts) not in modules:
            parts.pop()
        if parts:
            resolved.add(".".join(parts))
    return resolved


def file_imports(path: Path, modules: Mapping[str, object], package: str = "") -> list[Edge]:
    """The edges from the file ``path`` to the modules in ``modules``. ``package`` is
    the package relative imports resolve against (empty for a script, such as an
    example, which can only import absolutely)."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    source = str(path)
    edges = set()
    for raw in _raw_imports(tree, package):
        for target in _targets(raw, modules):
            edges.add(Edge(source, target, raw.line, raw.type_checking, raw.lazy,
                           raw.dynamic))
    return sorted(edges)


def import_edges(root: Path) -> list[Edge]:
    """Every import of one agentmem module by another, under ``root``."""
    modules = module_files(root)
    edges: set[Edge] = set()
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for edge in file_imports(path, modules, package):
            if edge.target != name:
                edges.add(Edge(name, edge.target, edge.line, edge.type_checking,
                               edge.lazy, edge.dynamic))
    return sorted(edges)


def module_graph(root: Path, *, type_checking: bool = True, lazy: bool = True
                 ) -> dict[str, set[str]]:
    """Module -> the modules it imports; every module is a key. By default all edges
    count; ``type_checking=False`` / ``lazy=False`` leave those edges out."""
    graph: dict[str, set[str]] = {name: set() for name in module_files(root)}
    for edge in import_edges(root):
        if (edge.type_checking and not type_checking) or (edge.lazy and not lazy):
            continue
        graph[edge.source].add(edge.target)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's
    algorithm, iterative), each sorted; largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found, key=lambda c: (-len(c), c))


def cycle_path(graph: Mapping[str, Iterable[str]], component: Iterable[str]) -> list[str]:
    """One shortest concrete cycle inside ``component``, as ``[a, b, ..., a]``."""
    members = set(component)
    best: list[str] = []
    for start in sorted(members):
        parents: dict[str, str] = {}
        frontier = [start]
        seen = {start}
        done = False
        while frontier and not done:
            nxt = []
            for node in frontier:
                for child in sorted(graph[node]):
                    if child == start:
                        path = [node]
                        while path[-1] != start:
                            path.append(parents[path[-1]])
                        cycle = [*reversed(path), start]
                        if not best or len(cycle) < len(best):
                            best = cycle
                        done = True
                        break
                    if child in members and child not in seen:
                        seen.add(child)
                        parents[child] = node
                        nxt.append(child)
                if done:
                    break
            frontier = nxt
    return best


def line_counts(root: Path) -> dict[str, int]:
    """Lines per module, largest first."""
    counts = {name: len(path.read_text(encoding="utf-8").splitlines())
              for name, path in module_files(root).items()}
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def package_of(module: str) -> str:
    """The top-level part of agentmem a module belongs to: ``agentmem.storage.items``
    -> ``storage``, ``agentmem.memory`` -> ``memory``, ``agentmem`` -> ``agentmem``
    (the package's ``__init__``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph(edges: Iterable[Edge]) -> dict[str, dict[str, str]]:
    """Top-level part -> {imported part: kind}, without imports inside a part. The kind
    is ``module`` when any edge between the two is a module-level import, else the
    kinds of the edges there are (``lazy``, ``TYPE_CHECKING``, ...)."""
    kinds: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for edge in edges:
        src, dst = package_of(edge.source), package_of(edge.target)
        if src != dst:
            kinds[src][dst].add(edge.kind)
    out: dict[str, dict[str, str]] = {}
    for src in sorted(kinds):
        out[src] = {dst: "module" if "module" in ks else ", ".join(sorted(ks))
                    for dst, ks in sorted(kinds[src].items())}
    return out


def _summary(targets: Mapping[str, str]) -> str:
    return ", ".join(dst if kind == "module" else f"{dst} ({kind})"
                     for dst, kind in targets.items())


def report(root: Path, *, markdown: bool = False) -> str:
    """The whole report on the tree at ``root``, as text or markdown."""
    root = Path(root).resolve()
    counts = line_counts(root)
    edges = import_edges(root)
    graph = module_graph(root)
    components = cycles(graph)
    packages = package_graph(edges)
    out: list[str] = []
    if markdown:
        out += [f"# Import graph of `{PACKAGE}`", "",
                f"`python tools/import_graph.py --root {root} --markdown`: "
                f"{len(counts)} modules, {sum(counts.values())} lines, {len(edges)} "
                "import edges between agentmem modules (counted from the source with "
                "`ast`; nothing imported).", "", "## Module sizes (lines)", "",
                "| module | lines |", "|---|---:|"]
        out += [f"| `{m}` | {n} |" for m, n in counts.items()]
        out += ["", "## Import cycles (all edges: module-level, TYPE_CHECKING, lazy)", ""]
        if not components:
            out += ["None.", ""]
        for i, component in enumerate(components, 1):
            members = set(component)
            inner = [e for e in edges if e.source in members and e.target in members]
            out += [f"### Cycle {i}: {len(component)} modules", "",
                    "Modules: " + ", ".join(f"`{m}`" for m in component), "",
                    "One cycle: " + " -> ".join(f"`{m}`" for m in
                                                cycle_path(graph, component)), "",
                    "| importer | imported | line | kind |", "|---|---|---:|---|"]
            out += [f"| `{e.source}` | `{e.target}` | {e.line} | {e.kind} |"
                    for e in inner]
            out.append("")
        out += ["## Which parts import which", "",
                "Top-level subpackages and modules of `agentmem`; an import is marked "
                "when no module-level import joins the two parts.", "",
                "| part | imports |", "|---|---|"]
        out += [f"| `{src}` | {_summary(dsts)} |" for src, dsts in packages.items()]
    else:
        out += [f"{PACKAGE} at {root}: {len(counts)} modules, {sum(counts.values())} "
                f"lines, {len(edges)} import edges", "", "Module sizes (lines):"]
        out += [f"  {n:6d}  {m}" for m, n in counts.items()]
        out += ["", f"Import cycles (all edges): {len(components) or 'none'}"]
        for i, component in enumerate(components, 1):
            members = set(component)
            out.append(f"  cycle {i} ({len(component)} modules): "
                       + " -> ".join(cycle_path(graph, component)))
            out += [f"      {e.source} -> {e.target}  (line {e.line}, {e.kind})"
                    for e in edges if e.source in members and e.target in members]
        out += ["", "Which parts import which:"]
        out += [f"  {src} -> {_summary(dsts)}" for src, dsts in packages.items()]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=REPO,
                    help="the source tree holding agentmem/ (default: this repo)")
    ap.add_argument("--markdown", action="store_true", help="write markdown")
    ap.add_argument("--out", type=Path, help="write here instead of stdout")
    args = ap.parse_args(argv)
    if not (args.root / PACKAGE).is_dir():
        ap.error(f"no {PACKAGE}/ under {args.root}")
    text = report(args.root, markdown=args.markdown)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
