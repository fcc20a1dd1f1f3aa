"""The arrows of the design, checked: imports run one way, and the pure cores stay free of Django.

    core  ←  checklists  ←  probes, notify  ←  demo, ctrlready (settings, URLs, the API's root)

`core` imports neither app; `checklists` never imports `probes` (it queues runs by task name);
`probes` and `notify` never import each other (notify hears of events through `core.events`);
an import hidden inside a function is how a cycle hides, so application code has none.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("core", "checklists", "probes", "notify", "demo", "ctrlready")
#: What each package may import of the others.
ALLOWED = {
    "core": set(),
    "checklists": {"core"},
    "probes": {"core", "checklists"},
    "notify": {"core", "checklists"},
    "demo": {"core", "checklists", "probes", "notify"},
    "ctrlready": {"core", "checklists", "probes", "notify", "demo"},
}
PURE = (
    "checklists.parsing",
    "checklists.annotations",
    "core.text",
    "core.addresses",
    "checklists.spec",
    "checklists.conditions",
    "checklists.hostkeys",
    "checklists.charts",
    "checklists.hosts",
    "probes.runners",
    "probes.runners.base",
    "probes.runners.context",
    "probes.runners.http",
    "probes.runners.tls",
    "probes.runners.dns",
    "probes.runners.tcp",
    "probes.runners.ssh",
    "probes.runners.load",
    "probes.runners.host",
    "probes.runners.postgres",
    "probes.runners.redaction",
)


def application_modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if "tests" in parts or "migrations" in parts:
            continue
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def imported(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return [node.module]
    return []


@pytest.mark.parametrize("package", APPS)
def test_imports_run_one_way(package):
    wrong = []
    for path, tree in application_modules(package):
        for node in ast.walk(tree):
            for module in imported(node):
                top = module.split(".")[0]
                if top in APPS and top != package and top not in ALLOWED[package]:
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module}")
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package]) or 'no other app'}:\n" + "\n".join(wrong)


def test_checklists_never_imports_probes():
    """The rule the design rests on, stated on its own so its failure says exactly that."""
    wrong = [
        f"{path.relative_to(ROOT)}:{node.lineno} imports {module}"
        for path, tree in application_modules("checklists")
        for node in ast.walk(tree)
        for module in imported(node)
        if module == "probes" or module.startswith("probes.")
    ]
    assert not wrong, "checklists must not import probes:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", APPS)
def test_no_project_import_hides_inside_a_function(package):
    hidden = []
    for path, tree in application_modules(package):
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                for module in imported(node):
                    if module.split(".")[0] in APPS:
                        hidden.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module} inside {function.name}()")
    assert not hidden, "imports belong at the top of the module:\n" + "\n".join(hidden)


def test_pure_cores_do_not_import_django():
    code = f"import sys, {', '.join(PURE)}; assert 'django' not in sys.modules, 'django imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
