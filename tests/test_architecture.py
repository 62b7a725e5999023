"""The house keeps its rooms: import rules, no circles, small modules, late imports only
where listed and with a reason, package docstrings that list what is really there,
commands loaded only when run, and a mock gateway that shares nothing with the client it
tests."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from paycli.cli.app import COMMANDS, load_commands

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "paycli"
MAX_LINES = 400
# The modules that may import inside a function, each for a reason its comment gives:
# Rich on the first thing drawn (start-up of `wallet balance` and `--json`), termios
# (POSIX only), a paycli.toml read only when there is one, httpx only when a payment
# reaches the gateway, psycopg (PostgreSQL only), and a SQLite ledger's DDL only when one
# is created or migrated.
LATE_IMPORTS_ALLOWED = {"paycli.cli.views.base", "paycli.cli.echo", "paycli.config",
                        "paycli.gateway.clients", "paycli.store.pg_connection",
                        "paycli.store.sqlite", "paycli.devtools.baselines"}


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

    def test_late_imports_stand_only_where_listed(self) -> None:
        """Start-up is kept by the lazy command table, not by scattered late imports: only
        the modules of `LATE_IMPORTS_ALLOWED` import inside a function."""
        found = {name for name, path in modules()
                 if any(True for _ in _late_import_blocks(ast.parse(path.read_text())))}
        assert found <= LATE_IMPORTS_ALLOWED, (
            f"late imports in {sorted(found - LATE_IMPORTS_ALLOWED)}: import at the top of "
            "the module (commands load lazily through paycli.cli.app), or list the module "
            "with its reason in LATE_IMPORTS_ALLOWED")


def packages() -> list[str]:
    """Every subpackage of paycli, dotted (`paycli.cli.views`)."""
    return sorted(name for name, path in modules()
                  if path.name == "__init__.py" and name != "paycli")


def listed_modules(doc: str) -> set[str]:
    """The module names a package docstring lists: the first word of each line indented
    four spaces and followed by two spaces or more (`    wallet      credit, ...`)."""
    return set(re.findall(r"^ {4}([a-z_][a-z0-9_]*) {2,}\S", doc, flags=re.MULTILINE))


def package_rooms(package: str) -> set[str]:
    """The modules and subpackages a package really holds."""
    folder = ROOT.joinpath(*package.split("."))
    return ({path.stem for path in folder.glob("*.py") if path.name != "__init__.py"}
            | {path.parent.name for path in folder.glob("*/__init__.py")})


def docstring_drift(package: str, doc: str) -> str | None:
    """What a package docstring gets wrong about its package, in words, or None."""
    rooms, listed = package_rooms(package), listed_modules(doc)
    problems = []
    if rooms - listed:
        problems.append(f"not listed in its docstring: {', '.join(sorted(rooms - listed))}")
    if listed - rooms:
        problems.append(f"listed but not there: {', '.join(sorted(listed - rooms))}")
    return f"{package}/__init__.py: " + "; ".join(problems) if problems else None


class TestPackageDocstrings:
    @pytest.mark.parametrize("package", packages())
    def test_the_docstring_lists_every_module_and_only_those(self, package: str) -> None:
        """Each subpackage's `__init__` docstring lists each of its modules (one line each,
        indented four spaces: name, then what it holds), and nothing that is not there."""
        init = ROOT.joinpath(*package.split("."), "__init__.py")
        doc = ast.get_docstring(ast.parse(init.read_text()), clean=False) or ""
        assert docstring_drift(package, doc) is None, docstring_drift(package, doc)

    def test_a_missing_and_an_extra_module_are_named(self) -> None:
        """The check can fail, and says what is wrong: a docstring that leaves out a module
        and lists one that is not there names both."""
        doc = "The terminal.\n\n    app       the app\n    gone      a module since removed\n"
        drift = docstring_drift("paycli.cli", doc)
        assert drift is not None
        assert "not listed in its docstring: " in drift and "wallet" in drift
        assert drift.endswith("listed but not there: gone")


class TestLazyCommands:
    def test_the_command_table_names_every_command_with_its_own_help_line(self) -> None:
        """Each command of `COMMANDS` is registered by the module the table names, and the
        line `paycli --help` shows from the table is the command's own first sentence; no
        module registers a command the table lacks."""
        registered = {}
        for module in {module for module, _ in COMMANDS.values()}:
            registered |= {name: (module, command)
                           for name, command in load_commands(module).items()}
        assert set(registered) == set(COMMANDS)
        for name, (module, line) in COMMANDS.items():
            assert registered[name][0] == module, name
            assert registered[name][1].get_short_help_str(1000) == line, name

    @pytest.mark.parametrize(("argv", "loaded"), [
        (["--help"], set()),
        (["--db", "{db}", "wallet", "balance", "--user", "alice"], {"wallet"}),
        (["schema", "pay"], {"schema"}),
    ])
    def test_a_command_loads_only_its_own_module(self, argv: list[str], loaded: set[str],
                                                 tmp_path: Path) -> None:
        """`paycli --help` imports no command module, and a command imports its own: the
        lazy table keeps start-up near a bare Typer app's."""
        script = ("import sys\nfrom paycli.cli import app\n"
                  "try:\n    app(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
                  "print(' '.join(m for m in sys.modules if m.startswith('paycli.cli.')))")
        args = [arg.replace("{db}", str(tmp_path / "ledger.db")) for arg in argv]
        done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        commands = {module for module, _ in COMMANDS.values()}
        imported = {name.split(".")[2] for name in done.stdout.splitlines()[-1].split()}
        assert imported & commands == loaded, done.stdout.splitlines()[-1]


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
