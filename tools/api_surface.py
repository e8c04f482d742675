"""Record agentmem's public API as JSON, and compare two such records.

    python tools/api_surface.py [--root DIR] --out FILE.json
    python tools/api_surface.py --compare BEFORE.json AFTER.json

Recording imports ``agentmem`` from DIR (default: this repository), after putting DIR
first on ``sys.path``, and refuses to go on if the package came from anywhere else
(the virtualenv's editable install points at one tree only). It then walks
``agentmem.__all__`` and the ``__all__`` of each public module in PUBLIC_MODULES that
exists, and writes one flat entry per public object, keyed ``module:Name`` for a name
and ``module:Class.member`` for a member of a class:

* a function: its ``str(inspect.signature(...))`` and ``inspect.getdoc``;
* a class: its docstring, its bases, the signature of calling it (``__init__``), and,
  for a dataclass, its fields (type strings as written, defaults as repr); then one
  entry per public method, classmethod, staticmethod, property or class attribute
  (name not starting with ``_``, plus ``__init__``, ``__enter__`` and ``__exit__``)
  defined in the class or in an agentmem base class, with its signature and docstring;
* a public attribute an instance of ``Memory`` gets in ``__init__`` (one is made in
  memory over the hashing embedder): the name of its value's type; and for each
  property of ``Memory``, the type of what it returns on that instance;
* anything else: its type, and its repr where that is a plain value or a typing alias
  (a set's items sorted, object addresses masked, so that two runs agree).

Annotations stay strings where the source has ``from __future__ import annotations``,
so the record does not depend on what the annotations resolve to.

``--compare`` prints every entry of BEFORE that AFTER lacks (removed) or holds with a
different value (changed, field by field), and lists AFTER's additions, which are
allowed. An entry whose only differences extend it compatibly is listed apart, as an
addition: a signature gaining optional parameters (old ones unchanged, old positional
ones still first), a dataclass gaining fields with defaults at the end, a class gaining
annotations or base classes (the old bases still among its ancestors), a docstring
where there was none, an instance attribute that became a property returning a value
of the same type (on the in-memory instance). The exit status is 1 when anything was
removed or changed (``--strict``: or extended), 0 otherwise.

Where an object, its agentmem base classes or an inherited member are defined
(``defined_in``, ``bases_defined_in``, ``inherited_from``) is shown as a note, not
counted as a change: a class moving between private modules is what a refactor does.
(A class's ``mro`` is recorded to judge its bases, and not compared on its own.)
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import enum
import importlib
import inspect
import json
import os
import platform
import re
import sys
import typing
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "agentmem"
PUBLIC_MODULES: tuple[str, ...] = (
    "agentmem",
    "agentmem.stores",
    "agentmem.embed",
    "agentmem.llm",
    "agentmem.types",
    "agentmem.errors",
    "agentmem.temporal",
    "agentmem.integrations.langchain",
    "agentmem.integrations.langgraph",
    "agentmem.eval",
)
#: dunder members recorded besides the public ones
DUNDER_MEMBERS = frozenset({"__init__", "__enter__", "__exit__"})
#: entry fields that are reported as notes, not counted as changes
NOTE_FIELDS = ("defined_in", "bases_defined_in", "inherited_from")
#: entry fields not compared field by field
INFO_FIELDS = frozenset({*NOTE_FIELDS, "mro"})
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_PLAIN = (str, int, float, bool, bytes, type(None), tuple, frozenset, list, dict, set,
          datetime.date, datetime.time, datetime.timedelta)

Entry = dict[str, Any]


def _stable(text: str) -> str:
    """``text`` without object addresses (``<object object at 0x7f...>``), which differ
    from one run to the next."""
    return _ADDRESS.sub(" at 0x…", text)


def _signature(obj: Any) -> str | None:
    """``str(inspect.signature(obj))``, or None where Python cannot tell one."""
    try:
        return _stable(str(inspect.signature(obj)))
    except (TypeError, ValueError):
        return None


def _doc(obj: Any) -> str | None:
    """The cleaned docstring of ``obj`` itself (no lookup through base classes)."""
    doc = getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if isinstance(doc, str) else None


def _where(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


def _is_alias(obj: Any) -> bool:
    """Whether ``obj`` is a typing construct (``Literal[...]``, ``X | None``, ...)."""
    return not inspect.isfunction(obj) and (
        typing.get_origin(obj) is not None or type(obj).__module__ == "typing")


def _value(obj: Any) -> Entry:
    """The entry of a public name that is neither a class nor a function."""
    entry: Entry = {"kind": "value", "type": type(obj).__qualname__}
    is_alias = _is_alias(obj)
    if is_alias:
        entry["kind"] = "type alias"
    if isinstance(obj, set | frozenset):  # the order of a set's repr varies by run
        entry["repr"] = f"{type(obj).__name__}({sorted(map(repr, obj))})"
    elif isinstance(obj, _PLAIN) or is_alias:
        entry["repr"] = _stable(repr(obj))
    return entry


def _dataclass_fields(cls: type) -> list[Entry]:
    fields = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default: str | None = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = f"<factory {getattr(f.default_factory, '__qualname__', '?')}>"
        else:
            default = None
        fields.append({"name": f.name, "type": f.type if isinstance(f.type, str)
                       else repr(f.type), "default": default, "init": f.init,
                       "kw_only": f.kw_only})
    return fields


def _own_classes(cls: type) -> list[type]:
    """``cls`` and its bases defined in agentmem, in method resolution order."""
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] == PACKAGE]


def _member(raw: Any) -> Entry:
    """The entry of one class member, from its raw (``getattr_static``) value."""
    if isinstance(raw, staticmethod | classmethod):
        func = raw.__func__
        kind = "staticmethod" if isinstance(raw, staticmethod) else "classmethod"
        return {"kind": kind, "signature": _signature(func), "doc": _doc(func)}
    if isinstance(raw, property):
        return {"kind": "property", "signature": _signature(raw.fget) if raw.fget else None,
                "settable": raw.fset is not None, "doc": _doc(raw.fget) or _doc(raw)}
    if inspect.isfunction(raw) or inspect.ismethoddescriptor(raw):
        return {"kind": "method", "signature": _signature(raw), "doc": _doc(raw)}
    if isinstance(raw, type):
        return {"kind": "class", "defined_in": _where(raw)}
    if hasattr(raw, "__get__") and callable(getattr(raw, "__get__", None)) \
            and not isinstance(raw, _PLAIN):
        # functools.cached_property and other descriptors
        return {"kind": type(raw).__name__, "doc": _doc(getattr(raw, "func", raw))}
    entry = _value(raw)
    entry["kind"] = "attribute"
    return entry


def _class(qualified: str, cls: type, entries: dict[str, Entry]) -> None:
    """Add the entry of class ``cls`` and one per public member under ``qualified``."""
    entry: Entry = {
        "kind": "class",
        "defined_in": _where(cls),
        # agentmem's own bases by name only: a base moving between modules is a note
        "bases": [b.__qualname__ if b.__module__.split(".")[0] == PACKAGE else _where(b)
                  for b in cls.__bases__],
        "bases_defined_in": [_where(b) for b in cls.__bases__],
        "mro": [b.__qualname__ if b.__module__.split(".")[0] == PACKAGE else _where(b)
                for b in cls.__mro__[1:]],
        "doc": _doc(cls),
        "init": _signature(cls),
    }
    if dataclasses.is_dataclass(cls):
        entry["dataclass_fields"] = _dataclass_fields(cls)
    if issubclass(cls, enum.Enum):
        entry["enum_members"] = {m.name: repr(m.value) for m in cls}
    annotations = {}
    for c in reversed(_own_classes(cls)):
        for name, ann in inspect.get_annotations(c).items():
            if not name.startswith("_"):
                annotations[name] = ann if isinstance(ann, str) else repr(ann)
    if annotations:
        entry["annotations"] = dict(sorted(annotations.items()))
    entries[qualified] = entry
    # a dataclass field's default is a class attribute too; dataclass_fields has it
    seen = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) \
        else set()
    for owner in _own_classes(cls):
        for name, raw in owner.__dict__.items():
            public = not name.startswith("_") or name in DUNDER_MEMBERS
            if not public or name in seen:
                continue
            seen.add(name)
            member = _member(raw)
            if owner is not cls:
                member["inherited_from"] = _where(owner)
            entries[f"{qualified}.{name}"] = member


def _record_name(module: str, name: str, obj: Any, entries: dict[str, Entry]) -> None:
    key = f"{module}:{name}"
    if inspect.isclass(obj):
        _class(key, obj, entries)
    elif inspect.ismodule(obj):
        entries[key] = {"kind": "module", "defined_in": obj.__name__}
    elif _is_alias(obj):
        entries[key] = _value(obj)
    elif inspect.isfunction(obj) or inspect.isbuiltin(obj) or (
            callable(obj) and _signature(obj) is not None and not isinstance(obj, _PLAIN)):
        entries[key] = {"kind": "function", "defined_in": _where(obj),
                        "signature": _signature(obj), "doc": inspect.getdoc(obj)}
    else:
        entries[key] = _value(obj)


def _memory_instance() -> Any:
    """An in-memory ``Memory`` over the hashing embedder (no model, no files)."""
    from agentmem import Memory
    from agentmem.embed.hashing import HashingEmbedder

    return Memory(embedder=HashingEmbedder())


#: classes whose public instance attributes (set in ``__init__``, so invisible on the
#: class) are recorded from one instance: key of the class entry -> factory
INSTANCES: dict[str, typing.Callable[[], Any]] = {"agentmem:Memory": _memory_instance}


def _instance_attributes(key: str, factory: typing.Callable[[], Any],
                         entries: dict[str, Entry]) -> None:
    """Add ``key.attr`` for each public instance attribute the class does not define:
    its kind and the name of its value's type."""
    try:
        obj = factory()
    except Exception as exc:  # recorded, and shows up in a compare
        entries[f"{key}.<instance>"] = {"kind": "instance error", "error": repr(exc)}
        return
    try:
        for name, value in sorted(vars(obj).items()):
            if name.startswith("_") or f"{key}.{name}" in entries:
                continue
            entries[f"{key}.{name}"] = {"kind": "instance attribute",
                                        "type": type(value).__qualname__}
        # what the instance's properties hold, to compare with attributes they replace
        prefix = f"{key}."
        for member, entry in entries.items():
            if member.startswith(prefix) and entry["kind"] in ("property", "cached_property"):
                try:
                    value = getattr(obj, member[len(prefix):])
                except Exception as exc:  # recorded: the property raises here
                    entry["value_type"] = f"raises {type(exc).__qualname__}"
                else:
                    entry["value_type"] = type(value).__qualname__
    finally:
        close = getattr(obj, "close", None)
        if callable(close):
            close()


def _import_from(root: Path) -> Any:
    """Import agentmem from ``root`` and fail if it came from anywhere else."""
    sys.path.insert(0, str(root))
    package = importlib.import_module(PACKAGE)
    where = Path(package.__file__ or "").resolve()
    if not where.is_relative_to(root):
        raise SystemExit(f"agentmem was imported from {where}, not from under {root}")
    return package


def surface(root: Path) -> dict[str, Any]:
    """The public API of the agentmem under ``root``, as a JSON-ready dict."""
    root = root.resolve()
    package = _import_from(root)
    modules: dict[str, Any] = {}
    entries: dict[str, Entry] = {}
    for name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (exc.name == name or name.startswith(exc.name + ".")):
                modules[name] = {"status": "absent"}
            else:  # the module exists but needs a package that is not installed
                modules[name] = {"status": "import error", "error": repr(exc)}
            continue
        except Exception as exc:  # recorded, and shows up in a compare
            modules[name] = {"status": "import error", "error": repr(exc)}
            continue
        public = getattr(module, "__all__", None)
        if public is None:
            modules[name] = {"status": "no __all__"}
            continue
        modules[name] = {"status": "ok", "__all__": sorted(public)}
        for attr in public:
            try:
                obj = getattr(module, attr)
            except AttributeError as exc:
                entries[f"{name}:{attr}"] = {"kind": "missing", "error": str(exc)}
                continue
            _record_name(name, attr, obj, entries)
    for key, factory in INSTANCES.items():
        if key in entries:
            _instance_attributes(key, factory, entries)
    return {
        "root": str(root),
        "package_file": str(Path(package.__file__ or "").resolve().relative_to(root)),
        "python": platform.python_version(),
        "modules": modules,
        "entries": dict(sorted(entries.items())),
    }


@dataclasses.dataclass(frozen=True)
class _Param:
    name: str
    kind: str  # posonly, positional, vararg, kwonly, varkw
    annotation: str | None
    default: str | None  # None: no default


def _parse_signature(text: str) -> tuple[list[_Param], str | None] | None:
    """The parameters and return annotation of a recorded signature string, or None
    when it cannot be read back (the reprs of some defaults are not Python)."""
    clean = text
    while True:  # ``<factory>``, ``<object object at 0x…>`` are not Python: as strings
        masked = re.sub(r"<([^<>]*)>", lambda m: repr(f"\u27e8{m.group(1)}\u27e9"), clean)
        if masked == clean:  # each pass removes a pair of ASCII angle brackets
            break
        clean = masked
    try:
        tree = ast.parse(f"def f{clean}: pass")
    except SyntaxError:
        return None
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    a = func.args

    def src(node: ast.expr | None) -> str | None:
        return ast.unparse(node) if node is not None else None

    params: list[_Param] = []
    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = "posonly" if i < len(a.posonlyargs) else "positional"
        params.append(_Param(arg.arg, kind, src(arg.annotation), src(default)))
    if a.vararg:
        params.append(_Param(a.vararg.arg, "vararg", src(a.vararg.annotation), None))
    for arg, kw_default in zip(a.kwonlyargs, a.kw_defaults, strict=True):
        params.append(_Param(arg.arg, "kwonly", src(arg.annotation), src(kw_default)))
    if a.kwarg:
        params.append(_Param(a.kwarg.arg, "varkw", src(a.kwarg.annotation), None))
    return params, src(func.returns)


def _signature_extension(old: str, new: str) -> str | None:
    """How ``new`` extends ``old`` compatibly (a description), or None if it does not:
    every old parameter kept with its kind, annotation and default, old positional
    parameters a prefix of the new ones, every new parameter optional (or ``*args`` /
    ``**kwargs``), the same return annotation."""
    a, b = _parse_signature(old), _parse_signature(new)
    if a is None or b is None or a[1] != b[1]:
        return None
    old_params, new_params = a[0], b[0]
    by_name = {p.name: p for p in new_params}
    if any(by_name.get(p.name) != p for p in old_params):
        return None
    old_pos = [p for p in old_params if p.kind in ("posonly", "positional")]
    new_pos = [p for p in new_params if p.kind in ("posonly", "positional")]
    if new_pos[: len(old_pos)] != old_pos:
        return None
    extra = [p for p in new_params if p not in old_params]
    if any(p.default is None and p.kind not in ("vararg", "varkw") for p in extra):
        return None
    return "new optional parameter(s) " + ", ".join(p.name for p in extra)


def _field_verdict(field: str, old: Any, new: Any, after: Entry) -> str | None:
    """A description when ``old`` -> ``new`` in ``field`` is a compatible extension,
    None when it is a change."""
    if field in ("signature", "init") and isinstance(old, str) and isinstance(new, str):
        return _signature_extension(old, new)
    if field == "dataclass_fields" and isinstance(old, list) and isinstance(new, list):
        extra = new[len(old):]
        if new[: len(old)] == old and all(f["default"] is not None for f in extra):
            return "new field(s) with defaults " + ", ".join(f["name"] for f in extra)
        return None
    if field in ("annotations", "enum_members") and isinstance(new, dict):
        if all(new.get(k) == v for k, v in (old or {}).items()):
            return f"new {field} " + ", ".join(sorted(new.keys() - (old or {}).keys()))
        return None
    if field == "bases" and isinstance(old, list):
        mro = after.get("mro") or new or []
        if all(b in mro for b in old):
            return f"bases {old} -> {new} (old bases still ancestors)"
        return None
    if field == "doc" and old is None:
        return "documented now"
    if field == "doc" and isinstance(old, str) and isinstance(new, str):
        added = _lines_added(old.splitlines(), new.splitlines())
        if added is not None:
            return f"docstring: {added} line(s) added, every old line kept in order"
        return None
    if field == "settable" and old is False and new is True:
        return "settable now"
    return None


def _lines_added(old: list[str], new: list[str]) -> int | None:
    """How many lines ``new`` adds to ``old`` when ``old`` is a subsequence of it (each
    old line kept, in order); None when an old line changed or went."""
    rest = iter(new)
    if all(any(line == other for other in rest) for line in old):
        return len(new) - len(old)
    return None


def _entry_diff(before: Entry, after: Entry) -> tuple[list[str], list[str]]:
    """(changes, compatible extensions) between two entries of the same name."""
    changes: list[str] = []
    extensions: list[str] = []
    old_kind, new_kind = before.get("kind"), after.get("kind")
    if old_kind == "instance attribute" and new_kind in ("property", "cached_property"):
        # ``obj.name`` reads the same; a read-only property can no longer be assigned
        note = f"instance attribute -> {new_kind}"
        if after.get("settable") is False:
            note += " (read-only)"
        if before.get("type") != after.get("value_type"):
            changes.append(f"    kind: {note}; value type {before.get('type')} -> "
                           f"{after.get('value_type')}")
        else:
            extensions.append(note)
        return changes, extensions
    for field in sorted(before.keys() | after.keys()):
        if field in INFO_FIELDS:
            continue
        old, new = before.get(field), after.get(field)
        if old == new:
            continue
        verdict = _field_verdict(field, old, new, after)
        if verdict is not None:
            extensions.append(verdict)
        else:
            changes.append(f"    {field}:\n      before: {json.dumps(old)}\n"
                           f"      after:  {json.dumps(new)}")
    return changes, extensions


def compare(before: dict[str, Any], after: dict[str, Any], *, strict: bool = False) -> int:
    """Print what changed between two records; 1 if anything was removed or changed
    (with ``strict``, compatible extensions of an entry count as changes too)."""
    problems = 0
    for name, info in before["modules"].items():
        new = after["modules"].get(name, {"status": "not recorded"})
        if info.get("status") == "ok" and new.get("status") != "ok":
            print(f"MODULE LOST  {name}: {new}")
            problems += 1
    lost = problems
    old_entries: dict[str, Entry] = before["entries"]
    new_entries: dict[str, Entry] = after["entries"]
    removed = sorted(old_entries.keys() - new_entries.keys())
    added = sorted(new_entries.keys() - old_entries.keys())
    changed: list[tuple[str, list[str]]] = []
    extended: list[tuple[str, list[str]]] = []
    moved: list[str] = []
    for key in sorted(old_entries.keys() & new_entries.keys()):
        changes, extensions = _entry_diff(old_entries[key], new_entries[key])
        if changes:
            changed.append((key, changes))
        if extensions:
            extended.append((key, extensions))
        for field in NOTE_FIELDS:
            old_where = old_entries[key].get(field)
            new_where = new_entries[key].get(field)
            if old_where != new_where:
                moved.append(f"  {key} {field}: {old_where} -> {new_where}")
    for key in removed:
        print(f"REMOVED  {key}  ({old_entries[key].get('kind')})")
    for key, diff in changed:
        print(f"CHANGED  {key}")
        print("\n".join(diff))
    problems += len(removed) + len(changed)
    if extended:
        label = "EXTENDED (counted as changes: --strict)" if strict else \
            "extended compatibly (allowed)"
        print(f"{label}, {len(extended)}:")
        for key, notes in extended:
            print(f"  {key}: {'; '.join(notes)}")
        if strict:
            problems += len({k for k, _ in extended} - {k for k, _ in changed})
    if added:
        print(f"added ({len(added)}, allowed):")
        for key in added:
            print(f"  {key}  ({new_entries[key].get('kind')})")
    if moved:
        print(f"moved (notes, not counted; {len(moved)}):")
        print("\n".join(moved))
    print(f"{len(old_entries)} entries before, {len(new_entries)} after: {len(removed)} "
          f"removed, {len(changed)} changed, {len(extended)} extended compatibly, "
          f"{len(added)} added" + (f", {lost} module(s) lost" if lost else ""))
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=REPO,
                    help="the source tree to import agentmem from (default: this repo)")
    ap.add_argument("--out", type=Path, help="where to write the JSON record")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                    help="compare two records instead of recording")
    ap.add_argument("--strict", action="store_true",
                    help="with --compare: count compatible extensions as changes")
    args = ap.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        return compare(before, after, strict=args.strict)
    if args.out is None:
        ap.error("--out is required when recording")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    record = surface(args.root)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    kinds: dict[str, int] = {}
    for entry in record["entries"].values():
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
    not_ok = [f"{m} {i['status']}" for m, i in record["modules"].items()
              if i["status"] != "ok"]
    print(f"agentmem from {record['root']}: {len(record['entries'])} entries "
          f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}); modules: "
          + (", ".join(not_ok) or "all imported"))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
