"""The Gainsight reference exports (`seeds/*.csv`), checked before a run touches anything.

A bad export would otherwise fail inside `dbt build`, after the extraction, with a long
DuckDB CSV message; checked first, it stops the run with one line naming the file and line.
"""

import csv
from pathlib import Path

import yaml

from .errors import ConfigError, shown_path
from .paths import DBT_PROJECT_DIR

# What DuckDB (and so dbt-duckdb's seed loader) reads as a boolean; an empty field is null.
_BOOLEANS = {"true", "false", "t", "f", "1", "0", "yes", "no", "y", "n"}


def declared_seeds(project_dir: Path = DBT_PROJECT_DIR) -> dict[Path, dict[str, str]]:
    """Each seed file with its declared column types (`+column_types` in dbt_project.yml)."""
    project = yaml.safe_load((project_dir / "dbt_project.yml").read_text(encoding="utf-8"))
    seeds_dir = project_dir / (project.get("seed-paths") or ["seeds"])[0]
    configs = (project.get("seeds") or {}).get(project["name"]) or {}
    return {
        (seeds_dir / f"{name}.csv").resolve(): dict(config["+column_types"])
        for name, config in configs.items()
        if isinstance(config, dict) and "+column_types" in config
    }


def check_seeds(project_dir: Path = DBT_PROJECT_DIR) -> None:
    """Raise ConfigError for the first seed file dbt could not load as declared."""
    for path, column_types in declared_seeds(project_dir).items():
        _check_seed(path, column_types)


def _check_seed(path: Path, column_types: dict[str, str]) -> None:
    shown = shown_path(path)
    header_hint = ",".join(column_types)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            header = next(reader, None) or []
            missing = [column for column in column_types if column not in header]
            if missing:
                raise ConfigError(
                    f"{shown}: column {', '.join(missing)} is missing; the first line must "
                    f"name the columns {header_hint} (export the file again with them)"
                )
            for row in reader:
                _check_row(shown, reader.line_num, header, row, column_types)
    except FileNotFoundError:
        raise ConfigError(
            f"{shown} is missing: put the Gainsight export there, with the columns {header_hint}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{shown} is not UTF-8 text: export it again as a UTF-8 CSV") from None
    except csv.Error as error:
        raise ConfigError(f"{shown}: not a valid CSV file ({error}); export it again") from None


def _check_row(
    shown: str, line: int, header: list[str], row: list[str], column_types: dict[str, str]
) -> None:
    if not row:
        return  # a blank line
    if len(row) != len(header):
        raise ConfigError(
            f"{shown} line {line}: {len(row)} fields where the header has {len(header)}; "
            "quote values that contain commas"
        )
    for column, data_type in column_types.items():
        value = row[header.index(column)]
        if value and not _fits(value, data_type.lower()):
            kind = "a number" if data_type.lower() == "double" else f"a {data_type.lower()}"
            raise ConfigError(
                f"{shown} line {line}: {column} {value!r} is not {kind}; "
                "fix the value or leave it empty"
            )


def _fits(value: str, data_type: str) -> bool:
    if data_type == "double":
        try:
            float(value)
        except ValueError:
            return False
        return True
    if data_type == "boolean":
        return value.lower() in _BOOLEANS
    return True
