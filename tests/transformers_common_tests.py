"""transformers' own common model tests, fetched at test time for the installed transformers version.

`ModelTesterMixin` (tests/test_modeling_common.py) and `ConfigTester` (tests/test_configuration_common.py) live in
transformers' source distribution, not in its wheel. `load_common_tests()` downloads that sdist from the package index
with pip, caches it outside the checkout (`~/.cache/kr-electra-kd/transformers-tests/<version>/`, or the folder named
by $KR_ELECTRA_KD_TRANSFORMERS_TESTS), and extracts only the two files and the test modules they import, as the
package `transformers_tests`. Nothing of transformers' test code is copied into this repository.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import transformers

CACHE_ENV = "KR_ELECTRA_KD_TRANSFORMERS_TESTS"
ENTRY_MODULES = ("test_modeling_common", "test_configuration_common")
# The extracted `tests/` folder is renamed so that it cannot shadow this project's tests.
PACKAGE = "transformers_tests"
# Modules the two entry files import that transformers' sdist does not ship (it carries tests/*.py but no
# subfolders), written in their place. ExportTesterMixin adds the torch.export tests, GenerationTesterMixin the
# `generate` tests (this family generates nothing); config_common_kwargs gives each field of transformers'
# PreTrainedConfig a non-default value, which `ConfigTester.check_config_arguments_init` expects a config to keep.
STAND_INS = {
    "exporters.test_export": "class ExportTesterMixin:\n    pass\n",
    "generation.test_utils": "class GenerationTesterMixin:\n    pass\n",
    "utils.test_configuration_utils": (
        "config_common_kwargs = {\n"
        '    "return_dict": False, "output_hidden_states": True, "output_attentions": True, "dtype": "float16",\n'
        '    "chunk_size_feed_forward": 5, "architectures": ["BertModel"], "id2label": {0: "label"},\n'
        '    "label2id": {"label": "0"}, "problem_type": "regression",\n'
        "}\n"
    ),
}


class CommonTestsUnavailable(RuntimeError):
    """The sdist could not be fetched or read (no network, no pip): the one-line reason."""


def cache_dir(version: str = transformers.__version__) -> Path:
    root = os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "kr-electra-kd" / "transformers-tests"
    return Path(root) / version


def fetch_sdist(version: str, folder: Path) -> Path:
    """The transformers `version` sdist in `folder`, downloaded with pip when it is not there yet."""
    found = sorted(folder.glob(f"transformers-{version}.tar.gz"))
    if found:
        return found[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--quiet", "--dest", str(folder), f"transformers=={version}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    found = sorted(folder.glob(f"transformers-{version}.tar.gz"))
    if result.returncode != 0 or not found:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise CommonTestsUnavailable(f"pip could not download the transformers {version} sdist: {last_line}")
    return found[0]


def _relative_imports(source: str, module: str) -> set[str]:
    """Dotted names (relative to the tests package) of the modules `module`'s relative imports may name."""
    package_parts = module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = package_parts[: len(package_parts) - (node.level - 1)]
        target = base + (node.module.split(".") if node.module else [])
        names.add(".".join(target))
        names.update(".".join(target + [alias.name]) for alias in node.names)  # `from . import submodule`
    return {name for name in names if name}


def extract_tests(sdist: Path, destination: Path) -> None:
    """Write the entry modules, and every test module they import (transitively), under destination/PACKAGE."""
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if m.isfile() and "/" in m.name}
        files: dict[str, bytes] = {}
        pending = list(ENTRY_MODULES)
        while pending:
            module = pending.pop()
            path = module.replace(".", "/")
            if module in STAND_INS:
                files[f"tests/{path}.py"] = STAND_INS[module].encode()
            for candidate in (f"tests/{path}.py", f"tests/{path}/__init__.py"):
                if candidate in members and candidate not in files:
                    files[candidate] = archive.extractfile(members[candidate]).read()
                    pending += _relative_imports(files[candidate].decode(), module)
    if not any(name.endswith("test_modeling_common.py") for name in files):
        raise CommonTestsUnavailable(f"{sdist.name} has no tests/test_modeling_common.py")
    for name, content in files.items():
        target = destination / PACKAGE / name.removeprefix("tests/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    for folder in [destination / PACKAGE, *(destination / PACKAGE).rglob("*")]:
        if folder.is_dir() and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text("")


def prepare(version: str = transformers.__version__) -> Path:
    """The folder to put on sys.path so that `transformers_tests` imports: fetched and extracted once, then cached."""
    folder = cache_dir(version)
    if (folder / PACKAGE / "test_modeling_common.py").is_file():
        return folder
    sdist = fetch_sdist(version, folder)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        extract_tests(sdist, Path(scratch))
        shutil.rmtree(folder / PACKAGE, ignore_errors=True)
        (Path(scratch) / PACKAGE).rename(folder / PACKAGE)
    return folder


def pytest_markers(folder: Path) -> set[str]:
    """The `pytest.mark.<name>` / `mark.<name>` markers the extracted modules use, beyond pytest's own."""
    builtin = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"}
    names = set()
    for path in (folder / PACKAGE).rglob("*.py"):
        names.update(re.findall(r"\bmark\.([A-Za-z_]\w*)", path.read_text(encoding="utf-8")))
    return names - builtin


# The markers transformers' common tests use: transformers declares them in a conftest.py this project does not have,
# and under --strict-markers they must be declared before the module is imported (tests/conftest.py does).
MARKERS = ("accelerate_tests", "flash_attn_test", "flash_attn_3_test", "flash_attn_4_test", "torch_compile_test")


def load_common_tests():
    """(ModelTesterMixin, ConfigTester) from the installed version's sdist. Raises CommonTestsUnavailable."""
    folder = prepare()
    undeclared = pytest_markers(folder) - set(MARKERS)
    if undeclared:
        raise RuntimeError(f"add {', '.join(sorted(undeclared))} to MARKERS in {Path(__file__).name}")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    try:
        modeling = importlib.import_module(f"{PACKAGE}.test_modeling_common")
        configuration = importlib.import_module(f"{PACKAGE}.test_configuration_common")
    except ModuleNotFoundError as error:  # a test dependency of transformers' (e.g. parameterized) is missing
        raise CommonTestsUnavailable(f"{error} (pip install -e '.[dev]')") from error
    return modeling.ModelTesterMixin, configuration.ConfigTester
