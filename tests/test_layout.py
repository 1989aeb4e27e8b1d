"""The layout's import rules (CONTRIBUTING.md, "Where things live"), read from the source with `ast`:

- a command (training/commands/<name>.py) imports no other command;
- a library module (any other module of `training`) imports no command and nothing above it: `model_cards`,
  `benchmarks` or the root `upload.py` script.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TRAINING = REPO / "training"
COMMANDS_PACKAGE = "training.commands"
ABOVE_THE_LIBRARY = ("model_cards", "benchmarks", "upload")


def module_name(path: Path, base: Path = REPO) -> str:
    parts = path.relative_to(base).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, base: Path = REPO) -> set[str]:
    """Every module `path` imports, at any depth (lazy imports in functions count), relative imports resolved.
    `from package import name` yields both `package` and `package.name` (the name may be a submodule)."""
    name = module_name(path, base)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)
    return found


def is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layout_violations(root: Path = TRAINING) -> list[str]:
    """One line per import that breaks a rule, naming the importing file and the imported module."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root.parent)
        imports = imported_modules(path, root.parent)
        if is_within(name, COMMANDS_PACKAGE) and name != COMMANDS_PACKAGE:
            others = {
                module
                for module in imports
                if is_within(module, COMMANDS_PACKAGE) and module != COMMANDS_PACKAGE and module != name
            }
            problems += [f"command {name} imports command {module}" for module in sorted(others)]
        elif name != COMMANDS_PACKAGE:
            for module in sorted(imports):
                if is_within(module, COMMANDS_PACKAGE):
                    problems.append(f"library module {name} imports command {module}")
                elif any(is_within(module, above) for above in ABOVE_THE_LIBRARY):
                    problems.append(f"library module {name} imports {module}, which sits above the library")
    return problems


def test_commands_and_libraries_keep_the_import_rules():
    assert layout_violations() == []


def test_every_cli_command_is_a_module_of_the_commands_package():
    from training.cli import COMMANDS

    modules = {target.split(":")[0] for target, _ in COMMANDS.values()}
    assert all(module.startswith(COMMANDS_PACKAGE + ".") for module in modules), modules
    assert modules == {module_name(path) for path in (TRAINING / "commands").glob("[!_]*.py")}


@pytest.mark.parametrize(
    "where, line, expected",
    [
        ("commands/evaluate.py", "from training.commands.finetune import main", "imports command"),
        ("commands/evaluate.py", "from training.commands import finetune", "imports command"),
        ("commands/tasks.py", "from . import card", "imports command"),
        ("distillation/run.py", "from training.commands.distill import main", "imports command"),
        ("recipe.py", "def f():\n    from model_cards import template", "above the library"),
        ("tasks/registry.py", "import benchmarks.common", "above the library"),
        ("loading.py", "import upload", "above the library"),
    ],
)
def test_the_rules_catch_a_forbidden_import(tmp_path, where, line, expected):
    """Known answer: a copy of the package with one forbidden import added fails with a line naming it."""
    copy = tmp_path / "training"
    shutil.copytree(TRAINING, copy, ignore=shutil.ignore_patterns("__pycache__", "data", "help"))
    target = copy / where
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    problems = layout_violations(copy)
    assert problems and all(expected in problem for problem in problems), problems


def test_no_function_in_training_is_longer_than_60_lines():
    """Functions a reader can hold in their head: a longer one becomes named steps."""
    long = []
    for path in sorted((REPO / "training").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60:
                long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, "over 60 lines: " + "; ".join(long)
