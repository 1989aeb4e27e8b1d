"""The layout's rules (CONTRIBUTING.md, "Where things live" and "Rules"), read from the source with `ast`:

- a command (training/commands/<name>.py) imports no other command;
- a library module (any other module of `training`) imports no command and nothing above it: `model_cards`,
  `benchmarks` or the root `upload.py` script;
- no import circle among the modules of `training` (function-level and TYPE_CHECKING imports count): each fact has
  the home that all its importers stand above;
- no function in training/, benchmarks/ or scripts/ is longer than 60 lines;
- modeling_kr_electra_kd/ (shipped to the Hub, loaded there as remote code) imports only its own modules (relatively),
  the standard library, numpy, torch and the public transformers modules of MODELING_ALLOWED;
- no module of training/, benchmarks/ or scripts/ imports or reaches a private name (`_x`) of another module;
- only tests and the CLI run a command's argv: no module of training/ (but training/cli.py and the commands) or of
  benchmarks/ imports training.cli or a command, or calls a `run_command` argv runner; they call library functions.
"""

from __future__ import annotations

import ast
import shutil
import sys
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


def import_graph(root: Path = TRAINING) -> dict[str, set[str]]:
    """Module of `root` -> the modules of `root` it imports (at any depth, as `imported_modules` reads them)."""
    paths = {module_name(path, root.parent): path for path in sorted(root.rglob("*.py"))}
    return {
        name: {module for module in imported_modules(path, root.parent) if module in paths and module != name}
        for name, path in paths.items()
    }


def import_cycles(root: Path = TRAINING) -> list[str]:
    """'a -> b -> a' for each import circle among the modules of `root` (one shortest circle through each module
    that is on one, listed once)."""
    graph = import_graph(root)
    cycles = set()
    for start in graph:
        paths, queue = {start: [start]}, [start]
        while queue:  # breadth first: the shortest way back to `start`
            module = queue.pop(0)
            if start in graph[module]:
                cycle = paths[module]
                turn = cycle.index(min(cycle))  # one spelling per circle: from its smallest name
                cycles.add(" -> ".join(cycle[turn:] + cycle[:turn] + [min(cycle)]))
                break
            for imported in sorted(graph[module] - set(paths)):
                paths[imported] = [*paths[module], imported]
                queue.append(imported)
    return sorted(cycles)


def test_no_import_circle_among_the_training_modules():
    assert import_cycles() == []


@pytest.mark.parametrize(
    "where, line, expected",
    [
        (
            "outputs.py",
            "def f():\n    from training.arguments import check_output_dir",
            "training.arguments -> training.outputs -> training.arguments",
        ),
        (
            "distillation/minilm.py",
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from training.distillation.losses import LossBatch",
            "training.distillation.losses -> training.distillation.minilm -> training.distillation.losses",
        ),
    ],
)
def test_the_circle_rule_catches_an_import_back_up(tmp_path, where, line, expected):
    """Known answer: the two circles issue 35 removed, put back in a copy of the package, are named."""
    copy = tmp_path / "training"
    shutil.copytree(TRAINING, copy, ignore=shutil.ignore_patterns("__pycache__", "data", "help"))
    target = copy / where
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    assert import_cycles(copy) == [expected]


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


# Folders the 60-line and private-name rules cover, and files still waiting for their owner's change (by rule).
CHECKED_FOLDERS = ("training", "benchmarks", "scripts")


def long_functions(root: Path = REPO, limit: int = 60) -> list[str]:
    """'path:line name (lines)' of every function of CHECKED_FOLDERS under `root` with `limit` lines or more."""
    long = []
    for folder in CHECKED_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= limit:
                    lines = node.end_lineno - node.lineno + 1
                    long.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines})")
    return long


def test_no_function_is_longer_than_60_lines():
    """Functions a reader can hold in their head: a longer one becomes named steps."""
    long = long_functions()
    assert not long, "over 60 lines: " + "; ".join(long)


def test_the_length_rule_catches_a_long_benchmark_function(tmp_path):
    for folder in CHECKED_FOLDERS:
        (tmp_path / folder).mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "benchmarks" / "long.py").write_text(f"def main():\n{body}\n", encoding="utf-8")
    assert long_functions(tmp_path) == ["benchmarks/long.py:1 main (61)"]


# What modeling_kr_electra_kd/ may import besides its own modules, the standard library, numpy and torch:
# transformers module -> the names it may give (None: any; the module is public API).
MODELING_ALLOWED: dict[str, set[str] | None] = {
    "transformers": None,
    "transformers.activations": None,
    "transformers.modeling_outputs": None,
    "transformers.pipelines": None,  # the pipeline file
    "transformers.configuration_utils": {"PretrainedConfig"},
    "transformers.modeling_utils": {"PreTrainedModel", "ALL_ATTENTION_FUNCTIONS"},
    "transformers.modeling_layers": {"GradientCheckpointingLayer"},
    "transformers.utils": {"logging"},  # transformers.logging
}
MODELING = REPO / "modeling_kr_electra_kd"


def _modeling_import_allowed(module: str, name: str | None) -> bool:
    top = module.split(".")[0]
    if top in ("torch", "numpy") or (top in sys.stdlib_module_names and top != "transformers"):
        return True
    if module not in MODELING_ALLOWED:
        return False
    names = MODELING_ALLOWED[module]
    return names is None or name is None or name in names


def modeling_import_violations(root: Path = MODELING) -> list[str]:
    """One line per import of modeling_kr_electra_kd/ outside MODELING_ALLOWED (absolute self-imports included:
    on the Hub the files load as another package)."""
    problems = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                pairs = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module != "__future__":
                pairs = [(node.module, alias.name) for alias in node.names]
            else:
                continue
            problems += [
                f"{path.name}:{node.lineno} imports {module}{'.' + name if name else ''}"
                for module, name in pairs
                if not _modeling_import_allowed(module, name)
            ]
    return problems


def test_the_modeling_package_imports_only_public_transformers_and_itself():
    assert modeling_import_violations() == []


@pytest.mark.parametrize(
    "line",
    [
        "from transformers.models.electra.modeling_electra import ElectraLayer",
        "from transformers.modeling_utils import _init_weights",
        "import training.loading",
        "from modeling_kr_electra_kd.configuration_kr_electra_kd import AUTO_MAP",
    ],
)
def test_the_modeling_rule_catches_a_forbidden_import(tmp_path, line):
    copy = tmp_path / "modeling_kr_electra_kd"
    shutil.copytree(MODELING, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / "modeling_kr_electra_kd.py"
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line + "\n", encoding="utf-8")
    problems = modeling_import_violations(copy)
    assert len(problems) == 1 and problems[0].startswith("modeling_kr_electra_kd.py:"), problems


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private_name_uses(root: Path = REPO) -> list[str]:
    """'path:line name' for each private name (`_x`) of another module that CHECKED_FOLDERS import (`from m import
    _x`) or reach through an imported name (`module._x`)."""
    found = []
    for folder in CHECKED_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imported = set()
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    for alias in node.names:
                        bound = alias.asname or alias.name.split(".")[0]
                        imported.add(bound)
                        if isinstance(node, ast.ImportFrom) and _is_private(alias.name):
                            found.append(f"{path.relative_to(root)}:{node.lineno} {node.module}.{alias.name}")
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and _is_private(node.attr)
                    and isinstance(node.value, ast.Name)
                    and node.value.id in imported
                ):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_no_private_name_is_used_across_modules():
    assert private_name_uses() == []


@pytest.mark.parametrize(
    "code, expected",
    [
        ("from training.recipe import _finetune_argv\n", "benchmarks/b.py:1 training.recipe._finetune_argv"),
        (
            "from training import recipe\nrecipe._task_data_dir(None, 'nsmc')\n",
            "benchmarks/b.py:2 recipe._task_data_dir",
        ),
    ],
)
def test_the_private_name_rule_catches_a_use(tmp_path, code, expected):
    for folder in CHECKED_FOLDERS:
        (tmp_path / folder).mkdir()
    (tmp_path / "benchmarks" / "b.py").write_text(code, encoding="utf-8")
    assert private_name_uses(tmp_path) == [expected]


# Runs of a command's argv: who may (the CLI, the commands) and the files still waiting for a library call (reason).
ARGV_RUNNERS = ("training/cli.py", "training/commands/")


def argv_runs(root: Path = REPO) -> list[str]:
    """One line per import of training.cli or of a command, and per use of a `run_command` argv runner, in training/
    (outside ARGV_RUNNERS) and benchmarks/."""
    found = []
    for folder in ("training", "benchmarks"):
        for path in sorted((root / folder).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            if where.startswith(ARGV_RUNNERS):
                continue
            imports = imported_modules(path, root)
            found += [
                f"{where} imports {module}"
                for module in sorted(imports)
                if is_within(module, "training.cli") or is_within(module, COMMANDS_PACKAGE)
            ]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                name = getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "name", None)
                if name == "run_command":
                    found.append(f"{where}:{node.lineno} run_command")
    return found


def test_only_tests_and_the_cli_run_a_commands_argv():
    assert argv_runs() == []


@pytest.mark.parametrize(
    "where, code, expected",
    [
        ("training/recipe.py", "from training.cli import main\n", "training/recipe.py imports training.cli"),
        ("benchmarks/b.py", "def f():\n    from training.commands import finetune\n", "imports training.commands"),
        ("benchmarks/b.py", "from training import recipe\nrecipe.run_command('x', [])\n", "b.py:2 run_command"),
        ("training/recipe.py", "def run_command(command, argv):\n    pass\n", "recipe.py:1 run_command"),
    ],
)
def test_the_argv_rule_catches_a_run(tmp_path, where, code, expected):
    for folder in ("training", "benchmarks"):
        (tmp_path / folder).mkdir()
    (tmp_path / where).write_text(code, encoding="utf-8")
    problems = argv_runs(tmp_path)
    assert problems and all(expected in problem for problem in problems), problems


# What a command module may define besides its argument dataclasses: `main`, and finetune's parser (late defaults).
COMMAND_FUNCTIONS = {"main", "parse_arguments"}


def command_module_extras(root: Path = REPO) -> list[str]:
    """'path:line name' of every top-level function of training/commands/ other than COMMAND_FUNCTIONS, and of every
    class that is not a dataclass: logic that belongs in a library module."""
    found = []
    for path in sorted((root / "training" / "commands").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in COMMAND_FUNCTIONS:
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
            elif isinstance(node, ast.ClassDef) and not any(
                getattr(decorator, "id", None) == "dataclass" for decorator in node.decorator_list
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno} {node.name}")
    return found


def test_commands_hold_arguments_and_main_only():
    assert command_module_extras() == []


def test_the_command_rule_catches_a_helper(tmp_path):
    commands = tmp_path / "training" / "commands"
    commands.mkdir(parents=True)
    (commands / "upload.py").write_text(
        "from dataclasses import dataclass\n\n\n@dataclass\nclass A:\n    x: int = 1\n\n\n"
        "def _print_plan():\n    pass\n\n\ndef main(argv=None):\n    return 0\n",
        encoding="utf-8",
    )
    assert command_module_extras(tmp_path) == ["training/commands/upload.py:9 _print_plan"]
