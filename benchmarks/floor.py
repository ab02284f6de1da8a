"""The floor: the least work any tool must do to turn the API's pages into customer_goals.

A bare keep-alive HTTP client fetches every page with `limit=1000` and writes each page's
`data` array as it came (bytes sliced, never parsed in Python); DuckDB's `read_json` loads
them into tables shaped like the raw tables; then the job's own dbt models run as plain SQL
(compiled beforehand, untimed): every step a view, only the job's two outputs written as tables.
Run as `python -m benchmarks.floor`, it prints JSON.
"""

import argparse
import http.client
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

import duckdb

from extract.ecosystems.settings import ENDPOINTS, PAGE_SIZE, EndpointSpec
from goalsync.jobs_config import CS_GOAL_SYNC
from goalsync.paths import DBT_PROJECT_DIR
from goalsync.schemas import RAW_SCHEMA

FLOOR_LOAD_ID = "0000000000.000000"  # the raw tables' `_dlt_load_id`: one load, older than any
_DATA_PREFIX = b'{"data":'
_CURSOR_MARKER = b',"next_cursor":'


def compile_job_models(database: Path, target_path: Path) -> Path:
    """Compile the job's models against a synced `database` (untimed); returns the manifest.

    Compiled SQL names relations by the database's file name: the floor's must match.
    """
    from goalsync.dbt import run_dbt

    selection = [f"+{CS_GOAL_SYNC.model}", f"+{CS_GOAL_SYNC.errors_model}"]
    outcome = run_dbt(
        ["compile", "--select", *selection, "--target-path", str(target_path)], database
    )
    if not outcome.success:
        raise RuntimeError(f"dbt compile for the floor failed: {outcome.message}")
    return target_path / "manifest.json"


# --- fetch --------------------------------------------------------------------------


def fetch_endpoint(base_url: str, token: str, endpoint: str, out: BinaryIO) -> int:
    """Write every record of one listing into `out` as one JSON array; returns the pages."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    path = f"{url.path.rstrip('/')}/{endpoint}"
    cursor: str | None = None
    pages, written = 0, False
    out.write(b"[")
    try:
        while True:
            query = {"limit": PAGE_SIZE} | ({"cursor": cursor} if cursor else {})
            connection.request("GET", f"{path}?{urlencode(query)}", headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /{endpoint}: HTTP {response.status}")
            records, cursor = split_page(body)
            pages += 1
            if records:
                if written:
                    out.write(b",")
                out.write(records)
                written = True
            if cursor is None:
                break
    finally:
        connection.close()
    out.write(b"]")
    return pages


def split_page(body: bytes) -> tuple[bytes, str | None]:
    """(the records inside the page's `data` array, next cursor), by slicing the bytes."""
    cut = body.rfind(_CURSOR_MARKER)
    if not body.startswith(_DATA_PREFIX) or cut < 0:
        raise RuntimeError("page is not {'data': [...], 'next_cursor': ...} in that order")
    array = body[len(_DATA_PREFIX) : cut].strip()
    tail = body[cut + len(_CURSOR_MARKER) : -1].strip()
    cursor = None if tail == b"null" else json.loads(tail)
    return array[1:-1], cursor


# --- load ---------------------------------------------------------------------------


def read_json_sql(endpoint: EndpointSpec, path: Path) -> str:
    """`read_json` of one endpoint's file into the raw table's columns and types."""
    columns: dict[str, str] = {name: "VARCHAR" for name in endpoint.strings}
    columns |= {
        obj: "STRUCT(" + ", ".join(f"{key} VARCHAR" for key in keys) + ")"
        for obj, keys in endpoint.objects
    }
    columns |= {name: "DOUBLE" for name in endpoint.doubles}
    columns |= {name: "JSON" for name in endpoint.json_lists}
    columns |= {name: "VARCHAR" for name in endpoint.timestamps}
    selected = list(endpoint.strings)
    selected += [f"{obj}.{key} as {obj}__{key}" for obj, keys in endpoint.objects for key in keys]
    selected += list(endpoint.doubles)
    selected += [f"cast({name} as varchar) as {name}" for name in endpoint.json_lists]
    selected += [f"try_cast({name} as timestamptz) as {name}" for name in endpoint.timestamps]
    selected.append(f"'{FLOOR_LOAD_ID}' as _dlt_load_id")
    spec = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
    return (
        f"create or replace table {RAW_SCHEMA}.{endpoint.name} as select {', '.join(selected)} "
        f"from read_json('{path}', format = 'array', columns = {spec})"
    )


# --- SQL ----------------------------------------------------------------------------


def job_nodes(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Seeds and models the job's two models depend on, parents before children."""
    nodes = manifest["nodes"]
    wanted = [
        f"model.{manifest['metadata'].get('project_name', 'goalsync')}.{name}"
        for name in (CS_GOAL_SYNC.model, CS_GOAL_SYNC.errors_model)
    ]
    ordered: list[str] = []

    def visit(unique_id: str) -> None:
        if unique_id in ordered or unique_id not in nodes:
            return
        for parent in nodes[unique_id]["depends_on"].get("nodes", []):
            visit(parent)
        ordered.append(unique_id)

    for unique_id in wanted:
        visit(unique_id)
    return [nodes[u] for u in ordered if nodes[u]["resource_type"] in ("seed", "model")]


def node_statements(node: dict[str, Any]) -> Iterator[str]:
    relation = node["relation_name"]
    schema = relation.rsplit(".", 1)[0]
    yield f"create schema if not exists {schema}"
    if node["resource_type"] == "seed":
        path = (DBT_PROJECT_DIR / node["original_file_path"]).resolve()
        types = node["config"].get("column_types") or {}
        spec = "{" + ", ".join(f"'{c}': '{t}'" for c, t in types.items()) + "}"
        yield (
            f"create or replace table {relation} as select * from "
            f"read_csv('{path}', header = true, columns = {spec})"
        )
    elif node["name"] in (CS_GOAL_SYNC.model, CS_GOAL_SYNC.errors_model):
        yield f"create or replace table {relation} as {node['compiled_code']}"
    else:
        # the least work: every step a view, only the job's two outputs are written
        yield f"create or replace view {relation} as {node['compiled_code']}"


def goals_fingerprint(connection: duckdb.DuckDBPyConnection, relation: str) -> tuple[int, str]:
    """(rows, order-free hash of every row): equal fingerprints mean the same rows."""
    rows, digest = connection.execute(
        f"select count(*), coalesce(sum(hash(row)), 0)::varchar from {relation} as row"
    ).fetchone()
    return rows, digest


# --- the floor ----------------------------------------------------------------------


def run_floor(
    base_url: str, token: str, database: Path, manifest_path: Path, dump_dir: Path
) -> dict[str, Any]:
    """Fetch, load and transform once; returns the stage times and what was produced."""
    manifest = json.loads(manifest_path.read_text())
    shutil.rmtree(dump_dir, ignore_errors=True)
    dump_dir.mkdir(parents=True)

    started = time.perf_counter()
    pages, dumped = {}, {}
    for endpoint in ENDPOINTS:
        path = dump_dir / f"{endpoint.name}.json"
        with path.open("wb") as out:
            pages[endpoint.name] = fetch_endpoint(base_url, token, endpoint.name, out)
        dumped[endpoint.name] = path
    fetched = time.perf_counter()

    with duckdb.connect(str(database)) as connection:
        connection.execute(f"create schema if not exists {RAW_SCHEMA}")
        for endpoint in ENDPOINTS:
            connection.execute(read_json_sql(endpoint, dumped[endpoint.name]))
        loaded = time.perf_counter()
        for node in job_nodes(manifest):
            for statement in node_statements(node):
                connection.execute(statement)
        transformed = time.perf_counter()

        records = {
            endpoint.name: connection.execute(
                f"select count(*) from {RAW_SCHEMA}.{endpoint.name}"
            ).fetchone()[0]
            for endpoint in ENDPOINTS
        }
        goals, fingerprint = goals_fingerprint(connection, f"gainsight.{CS_GOAL_SYNC.model}")
        errors, errors_fingerprint = goals_fingerprint(
            connection, f"gainsight.{CS_GOAL_SYNC.errors_model}"
        )
    return {
        "fetch_seconds": fetched - started,
        "load_seconds": loaded - fetched,
        "sql_seconds": transformed - loaded,
        "pages": pages,
        "bytes": sum(path.stat().st_size for path in dumped.values()),
        "records": records,
        "goals": goals,
        "goals_fingerprint": fingerprint,
        "errors": errors,
        "errors_fingerprint": errors_fingerprint,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floor")
    commands = parser.add_subparsers(dest="command", required=True)
    compile_ = commands.add_parser("compile", help="compile the job's models (untimed)")
    compile_.add_argument("--database", type=Path, required=True)
    compile_.add_argument("--target-path", type=Path, required=True)
    run = commands.add_parser("run", help="fetch, load, transform; print JSON")
    run.add_argument("--base-url", required=True)
    run.add_argument("--database", type=Path, required=True)
    run.add_argument("--manifest", type=Path, required=True)
    run.add_argument("--dump-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "compile":
        print(compile_job_models(args.database, args.target_path))
        return 0
    token = sys.stdin.readline().strip()  # never on argv, where `ps` would show it
    print(json.dumps(run_floor(args.base_url, token, args.database, args.manifest, args.dump_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
