"""Run dbt-project-evaluator on a temporary copy of the dbt project; exit 1 on any finding.

The project itself never installs packages: the copy gets a packages.yml naming the vendored
packages under lint/packages (dbt-project-evaluator 1.3.2 and the dbt_utils 1.4.1 it needs),
our exceptions seed, and a DuckDB file of its own. `uv run python lint/dbt_project_evaluator.py`
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from dbt.cli.main import dbtRunner

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "dbt_project"
SEEDS = ROOT / "seeds"
LINT = ROOT / "lint"
EXCEPTIONS = LINT / "dbt_project_evaluator_exceptions.csv"
PACKAGES = ("dbt_project_evaluator", "dbt_utils")
# what dbt and the orchestrator write inside the project (destinations: generated from
# jobs.yml at run time, gitignored); a copy starts without it
GENERATED = ("target", "logs", "dbt_packages", ".user.yml", "package-lock.yml", "destinations")
# test results that are findings: the coverage tests only warn by default
FINDINGS = ("warn", "fail", "error", "runtime error")


def evaluator_project(workspace: Path) -> Path:
    """The copy of the project, set up to run the evaluator on itself."""
    project = workspace / "dbt_project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns(*GENERATED))
    # seed-paths is ../seeds: the Gainsight exports, and the evaluator's exceptions
    shutil.copytree(SEEDS, workspace / "seeds")
    shutil.copy(EXCEPTIONS, workspace / "seeds" / EXCEPTIONS.name)
    packages = [{"local": str(LINT / "packages" / name)} for name in PACKAGES]
    (project / "packages.yml").write_text(yaml.safe_dump({"packages": packages}))
    settings_path = project / "dbt_project.yml"
    settings = yaml.safe_load(settings_path.read_text())
    # the evaluator's models read our exceptions seed: that is what dbt warns about
    settings.setdefault("flags", {})["warn_error_options"] = {
        "silence": ["PackageNodeDependsOnRootProjectNode"]
    }
    settings["on-run-end"] = ["{{ dbt_project_evaluator.print_dbt_project_evaluator_issues() }}"]
    seeds = settings.setdefault("seeds", {})
    seeds["dbt_project_evaluator"] = {"dbt_project_evaluator_exceptions": {"+enabled": False}}
    seeds.setdefault("goalsync", {})["dbt_project_evaluator_exceptions"] = {
        "+column_types": dict.fromkeys(
            ("fct_name", "column_name", "id_to_exclude", "comment"), "varchar"
        )
    }
    settings_path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return project


def evaluate() -> list[str]:
    """The evaluator's failing checks (empty when the project passes), printed as dbt runs."""
    with tempfile.TemporaryDirectory(prefix="dbt-project-evaluator-") as folder:
        workspace = Path(folder)
        project = evaluator_project(workspace)
        os.environ["GOALSYNC_DUCKDB_PATH"] = str(workspace / "evaluator.duckdb")
        common = ["--project-dir", str(project), "--profiles-dir", str(project)]
        deps = dbtRunner().invoke(["deps", *common])
        if not deps.success:
            return [f"dbt deps failed: {deps.exception}"]
        selection = ["package:dbt_project_evaluator", EXCEPTIONS.stem]
        build = dbtRunner().invoke(["build", "--select", *selection, *common])
        if build.exception is not None:
            return [f"dbt build failed: {build.exception}"]
        return [
            f"{result.node.name}: {result.status}"
            for result in build.result
            if str(result.status) in FINDINGS
        ]


def main() -> int:
    findings = evaluate()
    if findings:
        print("dbt-project-evaluator findings:", *findings, sep="\n  ")
        return 1
    print("dbt-project-evaluator: no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
