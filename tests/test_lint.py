"""The lints, so that `uv run pytest` (CI) runs them: each fails with the linter's own output."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_lint(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}")


def test_ruff_check():
    run_lint("-m", "ruff", "check", ".")


def test_ruff_format():
    run_lint("-m", "ruff", "format", "--check", ".")


def test_sqlfluff_lint_models():
    run_lint("-m", "sqlfluff", "lint", "dbt_project/models")


def test_dbt_project_evaluator():
    run_lint("lint/dbt_project_evaluator.py")
