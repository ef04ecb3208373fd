"""The layout holds: no import cycle among the app's modules, lazy imports included (a cycle hidden
inside a function is still a cycle), and no module reads Kaleyra's or the app's settings except
through `campaigns.conf`."""

import ast
import re
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "campaigns"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parsed(path: Path) -> ast.Module:
    """The module's syntax tree. CPython 3.11 keeps the AST constructor's recursion depth per
    interpreter, not per thread (gh-106905): a thread still running from an earlier test (a live
    server importing a module) can make one parse fail with "recursion depth mismatch"; the
    same parse again is unaffected."""
    try:
        return ast.parse(path.read_text())
    except SystemError:
        return ast.parse(path.read_text())


MODULES = {module_name(path): path for path in APP.rglob("*.py") if "migrations" not in path.parts}


def imported_modules(path: Path) -> set[str]:
    """The app's modules `path` imports anywhere in its code (in functions too)."""
    found = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from campaigns.a import b` imports campaigns.a.b when b is a module, else campaigns.a
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in MODULES
                else node.module
                for alias in node.names
            ]
        else:
            continue
        found.update(name for name in names if name in MODULES)
    return found


def cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    graph = {name: imported_modules(path) - {name} for name, path in MODULES.items()}
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return groups


def test_no_module_of_the_app_imports_itself_back():
    assert cycles() == []


def test_relative_imports_are_not_used():
    """Absolute imports only: a module's imports read the same wherever it moves."""
    relative = [
        str(path.relative_to(APP.parent))
        for path in MODULES.values()
        if any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(parsed(path)))
    ]
    assert relative == []


SETTING_READ = re.compile(r"\bsettings\.(?:KALEYRA_|MPM_|SITE_URL)[A-Z0-9_]*")


def test_settings_are_read_through_conf_only():
    readers = [
        str(path.relative_to(APP.parent))
        for name, path in MODULES.items()
        if name != "campaigns.conf" and SETTING_READ.search(path.read_text())
    ]
    assert readers == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    """The check above can fail: two modules importing each other are reported."""
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "a.py").write_text("from campaigns.b import x\n")
    (tmp_path / "campaigns" / "b.py").write_text("def f():\n    from campaigns import a\n")
    monkeypatch.setattr(
        __import__(__name__, fromlist=["MODULES"]),
        "MODULES",
        {
            "campaigns.a": tmp_path / "campaigns" / "a.py",
            "campaigns.b": tmp_path / "campaigns" / "b.py",
        },
    )
    assert cycles() == [["campaigns.a", "campaigns.b"]]
