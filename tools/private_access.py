"""``make lint``: no code outside ``sanicms/_compat`` touches a private name of Sanic,
sanic-ext, asyncpg, prometheus-client or pgserver.

A private name *of theirs* is one their installed sources define: a module or package called
``_x``, a name ``_x`` at a module's top level or in a class body (``__slots__`` too), or an
attribute ``self._x`` / ``cls._x`` they assign (Cython sources included). Flagged, outside
``libs/sanicms/sanicms/_compat/`` and its tests ``libs/sanicms/tests/_compat/``:

- importing a private module of theirs, or a private name from one of their modules;
- ``x._name`` and ``getattr``/``setattr``/``hasattr``/``delattr(x, "_name")`` where ``_name``
  is one of theirs: whatever ``x`` is (a name cannot say which library made an object), or
  any private name when ``x`` is one of their modules or classes, as imported;
- ``self._name`` in a class derived from one of theirs, for their names the class does not
  define itself.

ruff's SLF001 (private-member-access) flags every ``obj._x`` on anything but self or cls:
here, about 60 accesses to the project's own objects and peewee's documented ``_meta``, for
about 20 of these libraries'; and it misses private modules and ``getattr`` with a string.

A private name that one of these libraries happens to use too, on an object of another's (the
project's own ``client._send``, aiohttp's ``connector._acquired``), is waived by a comment
on its line saying whose it is: ``# fence: ServiceClient's own``. ``bench/`` is exempt: it
measures code, including theirs, as it is.

``python tools/private_access.py [paths...]`` (default: libs services deploy tests); exit
status 1 when anything is flagged.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Import name -> the fence module that holds its private accesses (sanic_routing is Sanic's router).
LIBRARIES = {
    "sanic": "sanic", "sanic_routing": "sanic", "sanic_ext": "sanic_ext", "asyncpg": "asyncpg",
    "prometheus_client": "prometheus_client", "pgserver": "pgserver",
}
FENCE = "libs/sanicms/sanicms/_compat"
EXEMPT = (FENCE + "/", "libs/sanicms/tests/_compat/", "bench/")
SKIP_DIRS = {"build", "__pycache__", ".venv", ".demo", "node_modules"}
DEFAULT_PATHS = ("libs", "services", "deploy", "tests")
WAIVER = re.compile(r"#.*\bfence: \S")
ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "hasattr", "delattr"}
_CYTHON_NAMES = re.compile(r"self\.(_[A-Za-z]\w*)\s*=|\bcdef\b[^\n(]*?\b(_[A-Za-z]\w*)\s*(?:[=\n(]|$)", re.M)


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__") and name != "_"


def _defined(tree: ast.Module) -> set[str]:
    """The private names a module of theirs defines (see the module docstring)."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    names.add(item.name)
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    names.update(t.id for t in targets if isinstance(t, ast.Name))
                    if any(isinstance(t, ast.Name) and t.id == "__slots__" for t in targets) and item.value:
                        names.update(c.value for c in ast.walk(item.value)
                                     if isinstance(c, ast.Constant) and isinstance(c.value, str))
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for part in ast.walk(target):
                    if (isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name)
                            and part.value.id in ("self", "cls")):
                        names.add(part.attr)
    return {n for n in names if is_private(n)}


@cache
def private_names() -> dict[str, frozenset[str]]:
    """Each library's private names, read from its installed sources."""
    found: dict[str, set[str]] = {}
    for library in LIBRARIES:
        spec = importlib.util.find_spec(library)
        if spec is None or spec.origin is None:
            raise SystemExit(f"{library} is not installed: the check needs its sources (make install)")
        root = Path(spec.origin).parent
        names = found.setdefault(library, set())
        for path in root.rglob("*"):
            if path.suffix not in (".py", ".pyx", ".pxd", ".pyi"):
                continue
            names.update(p for p in path.relative_to(root).with_suffix("").parts if is_private(p))
            text = path.read_text(encoding="utf-8", errors="replace")
            if path.suffix in (".py", ".pyi"):
                try:
                    names |= _defined(ast.parse(text))
                except SyntaxError:
                    continue
            else:
                names.update(a or b for a, b in _CYTHON_NAMES.findall(text) if is_private(a or b))
    return {library: frozenset(names) for library, names in found.items()}


def owners(name: str) -> list[str]:
    return [library for library, names in private_names().items() if name in names]


def library_of(module: str | None) -> str | None:
    top = (module or "").partition(".")[0]
    return top if top in LIBRARIES else None


class Checker(ast.NodeVisitor):
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.lines = source.splitlines()
        self.imported: dict[str, str] = {}  # local name -> the dotted name it was imported as
        self.classes: list[tuple[bool, set[str]]] = []  # (derived from theirs, names it defines)
        self.found: list[str] = []

    # ---- what a name stands for -------------------------------------------------------

    def origin(self, node: ast.expr) -> str | None:
        """The dotted name ``node`` stands for, when it is rooted in an import of theirs."""
        if isinstance(node, ast.Name):
            dotted = self.imported.get(node.id)
            return dotted if library_of(dotted) else None
        if isinstance(node, ast.Attribute):
            base = self.origin(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            return self.origin(node.func)
        return None

    # ---- imports ----------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if library_of(alias.name):
                if any(is_private(part) for part in alias.name.split(".")):
                    self.flag(node, f"import {alias.name}", alias.name)
                self.imported[alias.asname or alias.name.partition(".")[0]] = (
                    alias.name if alias.asname else alias.name.partition(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not library_of(node.module):
            return
        assert node.module is not None
        if any(is_private(part) for part in node.module.split(".")):
            self.flag(node, f"from {node.module} import ...", node.module)
        for alias in node.names:
            if is_private(alias.name):
                self.flag(node, f"from {node.module} import {alias.name}", node.module)
            self.imported[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    # ---- classes derived from theirs --------------------------------------------------

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        derived = any(self.origin(base) for base in node.bases)
        own = _defined(ast.Module(body=[node], type_ignores=[]))
        self.classes.append((derived, own))
        self.generic_visit(node)
        self.classes.pop()

    # ---- attribute access -------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.check(node, node.value, node.attr, ast.unparse(node))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if (isinstance(node.func, ast.Name) and node.func.id in ATTRIBUTE_FUNCTIONS and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)):
            self.check(node, node.args[0], node.args[1].value, ast.unparse(node))
        self.generic_visit(node)

    def check(self, node: ast.AST, owner: ast.expr, name: str, text: str) -> None:
        if not is_private(name):
            return
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            if self.classes and self.classes[-1][0] and name not in self.classes[-1][1] and owners(name):
                self.flag(node, text, owners(name)[0], inherited=True)
            return
        rooted = self.origin(owner)
        if rooted:
            self.flag(node, text, rooted)
        elif owners(name):
            self.flag(node, text, owners(name)[0], also=owners(name)[1:])

    def flag(self, node: ast.AST, text: str, where: str, *, also: list[str] | None = None,
             inherited: bool = False) -> None:
        line = getattr(node, "lineno", 0)
        if 0 < line <= len(self.lines) and WAIVER.search(self.lines[line - 1]):
            return
        library = library_of(where) or where
        fence = LIBRARIES.get(library, library)
        whose = " or ".join([library, *(also or [])])
        how = "inherited from" if inherited else "of"
        self.found.append(f"{self.path}:{line}:{getattr(node, 'col_offset', 0) + 1}: {text}: a private name "
                          f"{how} {whose}; reach it through {FENCE}/{fence}.py, with its reason")


def files(paths: list[str]) -> Iterator[Path]:
    for given in paths:
        path = (ROOT / given).resolve()
        if path.is_file():
            yield path
            continue
        for found in sorted(path.rglob("*.py")):
            if not SKIP_DIRS.intersection(found.relative_to(ROOT).parts) and not any(
                    part.endswith(".egg-info") for part in found.parts):
                yield found


def check(paths: list[str]) -> list[str]:
    found: list[str] = []
    for path in files(paths):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(EXEMPT):
            continue
        source = path.read_text(encoding="utf-8")
        checker = Checker(relative, source)
        checker.visit(ast.parse(source, filename=relative))
        found += checker.found
    return found


def main(argv: list[str]) -> int:
    found = check(argv or list(DEFAULT_PATHS))
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} private access(es) of Sanic, sanic-ext, asyncpg, prometheus-client or pgserver "
              f"outside {FENCE}/ (tools/private_access.py says why)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
