"""Mutation testing of the pure cores: each core is mutated by mutmut and run against its own test file(s).

Every mutant mutmut makes counts, error wording included (a message a person reads is behaviour too):
the figure is killed / total, where a mutant no test runs counts as a survivor.

    .venv/bin/python bench/mutation.py [conditions parsing spec annotations] [--keep] [--max-children N]

Each core runs in its own scratch directory, var/mutation/<core>/ (its mutants/ beside a generated
pyproject.toml), so the cores never share mutmut's caches.  The scratch directory is started afresh
unless --keep is given (then only mutants without a result, or those named with `mutmut run NAME` in
that directory, run again).  Needs no database: the pure cores' tests import no model.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "var" / "mutation"

# core name → (the file mutated, the test files that are its own)
CORES = {
    "conditions": ("checklists/conditions.py", ["checklists/tests/test_conditions.py"]),
    "parsing": (
        "checklists/parsing.py",
        ["checklists/tests/test_parsing.py", "checklists/tests/test_parsing_item_comment.py"],
    ),
    "spec": ("checklists/spec.py", ["checklists/tests/test_spec.py"]),
    "annotations": ("checklists/annotations.py", ["checklists/tests/test_annotations.py"]),
}

# What Django needs to start (pytest-django sets it up before any test runs).
PROJECT = ["core", "checklists", "probes", "demo", "ctrlready", "conftest.py"]


def toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(core: str, keep: bool) -> Path:
    target, tests = CORES[core]
    work = SCRATCH / core
    if work.exists() and not keep:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    for name in PROJECT:
        link = work / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    lines = ["[tool.pytest.ini_options]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in pytest_options.items()]
    lines += [
        "",
        "[tool.mutmut]",
        f"source_paths = {toml_list([target])}",
        # the rest of the project is copied as it is, on every run (tests included, so edits are seen)
        f"also_copy = {toml_list([*PROJECT, 'mutation_order.py'])}",
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}",
        # the same examples for every mutant: a kill is the code's doing, not the draw's
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "mutation_order", "--hypothesis-seed=0"]',
        "use_git_change_detection = false",
        "",
    ]
    (work / "pyproject.toml").write_text("\n".join(lines))
    (work / "mutation_order.py").write_text(ORDER_PLUGIN)
    return work


# mutmut stops a mutant's tests at the first failure: run the quick examples before the property tests.
ORDER_PLUGIN = '''"""Run example tests before Hypothesis property tests (the order changes no verdict, only the time)."""


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: getattr(getattr(item, "obj", None), "is_hypothesis_test", False))
'''


def figures(work: Path) -> dict:
    subprocess.run([sys.executable, "-m", "mutmut", "export-cicd-stats"], cwd=work, check=True, capture_output=True)
    return json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cores", nargs="*", default=list(CORES), choices=[[], *CORES], metavar="core")
    parser.add_argument("--keep", action="store_true", help="reuse the previous run's results")
    parser.add_argument("--max-children", type=int, default=2)
    args = parser.parse_args()
    results = {}
    for core in args.cores or list(CORES):
        work = prepare(core, args.keep)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        run = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
            cwd=work, env=env, capture_output=True, text=True,
        )
        if run.returncode != 0:
            sys.stdout.write(run.stdout[-4000:] + run.stderr[-4000:])
            sys.exit(f"mutmut failed on {core} (exit {run.returncode}); its files are in {work}")
        results[core] = figures(work)
    print()
    print(f"{'core':<12} {'killed':>7} {'total':>6} {'score':>7}  survived  no tests  timeout")
    for core, s in results.items():
        killed = s["killed"] + s["timeout"]
        total = s["total"]
        print(
            f"{core:<12} {killed:>7} {total:>6} {100 * killed / total:>6.1f}%"
            f"  {s['survived']:>8}  {s['no_tests']:>8}  {s['timeout']:>7}"
        )
    print("\nSurvivors: cd var/mutation/<core> && ../../../.venv/bin/python -m mutmut results (then `... show NAME`)")


if __name__ == "__main__":
    main()
