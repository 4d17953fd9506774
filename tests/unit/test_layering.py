"""STYLE C1: aggregate modules in commands/ are pure; they import no database, broker, web framework or store."""

import ast
from pathlib import Path

import pytest

COMMANDS = Path(__file__).resolve().parents[2] / "commands"
#: Modules of commands/ that are allowed effects (C1): the handler, the use cases around it, and the group commit
#: that sends the handler's appends together.
EDGES = {"__init__", "handler", "usecases", "catalog", "grouping"}
FORBIDDEN = {"psycopg", "psycopg_pool", "dramatiq", "fastapi", "starlette", "ledger", "redis", "httpx", "structlog"}
AGGREGATES = sorted(p.stem for p in COMMANDS.glob("*.py") if p.stem not in EDGES)


def imported(module: str) -> set[str]:
    """Every absolute module name ``commands/<module>.py`` imports."""
    tree = ast.parse((COMMANDS / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add(f"commands.{node.module}" if node.module else "commands")
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "commands")
    return names


def reachable(module: str) -> set[str]:
    """Imports of ``module`` and, transitively, of the commands/ modules it imports."""
    seen, todo, names = {module}, [module], set()
    while todo:
        for name in imported(todo.pop()):
            names.add(name)
            parts = name.split(".")
            if parts[0] == "commands" and len(parts) > 1 and parts[1] not in seen:
                seen.add(parts[1])
                todo.append(parts[1])
    return names


def test_the_core_aggregates_are_checked() -> None:
    assert {"merchant", "order", "payment", "instruments", "errors"} <= set(AGGREGATES)


@pytest.mark.parametrize("module", AGGREGATES)
def test_an_aggregate_module_imports_no_infrastructure(module: str) -> None:
    bad = sorted(n for n in reachable(module) if n.split(".")[0] in FORBIDDEN)
    assert not bad, f"commands/{module}.py reaches {bad}"


@pytest.mark.parametrize("module", AGGREGATES)
def test_an_aggregate_module_imports_no_edge_module_of_commands(module: str) -> None:
    bad = sorted(n for n in reachable(module) if n.split(".")[:2] in [["commands", e] for e in EDGES - {"__init__"}])
    assert not bad, f"commands/{module}.py reaches {bad}"


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    assert "ledger" in {n.split(".")[0] for n in reachable("catalog")}
