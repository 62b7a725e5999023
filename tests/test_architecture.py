"""The house keeps its rooms: import rules, no circles, small modules, late imports only
with a reason, and a mock gateway that shares nothing with the client it tests."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "paycli"
MAX_LINES = 400


def modules() -> Iterator[tuple[str, Path]]:
    """Every module of the package as (dotted name, path)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


NAMES = {name for name, _ in modules()}


def imported(path: Path, name: str) -> Iterator[tuple[ast.stmt, str]]:
    """Every paycli module an import statement of `path` names (wherever it stands)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield node, full if full in NAMES else base


def graph() -> dict[str, set[str]]:
    """Module -> the paycli modules it imports (late imports included)."""
    edges: dict[str, set[str]] = {}
    for name, path in modules():
        edges[name] = {target for node, target in imported(path, name)
                       if target in NAMES and target != name
                       and not _type_checking_only(path, node)}
    return edges


def _type_checking_only(path: Path, node: ast.stmt) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
               and any(ast.dump(child) == ast.dump(node) for child in block.body)
               for block in ast.walk(tree))


def cycle_in(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, if there is any (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


class TestImportRules:
    @pytest.mark.slow
    def test_import_linter_contracts_are_kept(self) -> None:
        """`lint-imports` (the contracts in pyproject.toml) passes."""
        done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 broken" in done.stdout

    def test_there_is_no_import_circle_between_modules(self) -> None:
        """No module imports itself back through others, late imports included."""
        assert cycle_in(graph()) is None

    def test_the_circle_finder_finds_a_circle(self) -> None:
        """The check above can fail: a made-up circle is found."""
        assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]

    def test_the_mock_gateway_imports_nothing_of_paycli(self) -> None:
        """`mock_gateway.py` shares no code with the client it is there to test."""
        names = [target for _, target in imported(ROOT / "mock_gateway.py", "mock_gateway")]
        assert names and not [name for name in names if name.split(".")[0] == "paycli"]


class TestModules:
    @pytest.mark.parametrize("name", sorted(NAMES))
    def test_no_module_is_over_the_size_limit(self, name: str) -> None:
        """Every module stays under ~400 lines."""
        path = dict(modules())[name]
        assert len(path.read_text().splitlines()) <= MAX_LINES, name

    @pytest.mark.parametrize("name", sorted(n for n in NAMES if n.count(".") == 1
                                            and (PACKAGE / n.split(".")[1]).is_dir()))
    def test_every_package_states_its_purpose(self, name: str) -> None:
        """Each subpackage's `__init__` docstring says what it is and its invariants."""
        doc = ast.get_docstring(ast.parse((PACKAGE / name.split(".")[1] / "__init__.py")
                                          .read_text()))
        assert doc and "Invariant" in doc, name

    def test_late_imports_carry_their_reason(self) -> None:
        """An import inside a function has a comment on its first line or just above it."""
        missing = []
        for name, path in modules():
            lines = path.read_text().splitlines()
            for block in _late_import_blocks(ast.parse("\n".join(lines))):
                first = block[0].lineno
                if "#" not in lines[first - 1] and not lines[first - 2].strip().startswith("#"):
                    missing.append(f"{name}:{first}")
        assert not missing, missing


def _late_import_blocks(tree: ast.AST) -> Iterator[list[ast.stmt]]:
    """Runs of consecutive import statements at the top of function bodies (or anywhere in
    them)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for body in _bodies(node):
            run: list[ast.stmt] = []
            for statement in body:
                if isinstance(statement, ast.Import | ast.ImportFrom):
                    run.append(statement)
                    continue
                if run:
                    yield run
                run = []
            if run:
                yield run


def _bodies(function: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[list[ast.stmt]]:
    for node in ast.walk(function):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                yield body
