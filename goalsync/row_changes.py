"""Counts inserted, updated and deleted rows of a destination by comparing it before and after."""

from dataclasses import dataclass
from pathlib import Path

from .warehouses import Session, current, quote_identifier, quoted_relation, table_exists


@dataclass(frozen=True)
class ComparedTable:
    """A destination table, the key that identifies its rows and the columns not compared."""

    relation: str
    key: tuple[str, ...]
    exclude: tuple[str, ...] = ()


def _no_rows() -> str:
    return (
        "select cast(null as varchar) as row_key, "
        f"cast(null as {current().row_hash_type}) as row_hash limit 0"
    )


def _hashed_rows_sql(connection: Session, table: ComparedTable) -> str:
    schema, name = table.relation.split(".")
    if not table_exists(connection, schema, name):
        return _no_rows()
    columns = [
        row[0]
        for row in connection.execute(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
    ]
    compared = [quote_identifier(c) for c in columns if c not in table.exclude] or ["1"]
    key_parts = ", ".join(f"cast({quote_identifier(k)} as varchar)" for k in table.key)
    return (
        f"select concat_ws(chr(31), {key_parts}) as row_key, "
        f"{current().row_hash_sql(compared)} as row_hash from {quoted_relation(schema, name)}"
    )


def snapshot_destination(connection: Session, table: ComparedTable, snapshot: Path) -> None:
    """Remember each row's key and content hash before the job writes (the engine keeps it)."""
    current().save_snapshot(connection, _hashed_rows_sql(connection, table), snapshot)


def count_changes(
    connection: Session, table: ComparedTable, snapshot: Path
) -> tuple[int, int, int]:
    """(inserted, updated, deleted) keys since the snapshot; an unchanged row is not updated."""
    warehouse = current()
    inserted, updated, deleted = connection.execute(
        f"""select
              count(*) filter (where before.row_key is null),
              count(*) filter (where before.row_key is not null and after.row_key is not null
                               and before.row_hash <> after.row_hash),
              count(*) filter (where after.row_key is null)
            from {warehouse.snapshot_relation(snapshot)} as before
            full outer join ({_hashed_rows_sql(connection, table)}) as after
              on before.row_key = after.row_key"""
    ).fetchone()
    warehouse.drop_snapshot(connection, snapshot)
    return inserted, updated, deleted
