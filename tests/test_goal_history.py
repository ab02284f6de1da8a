"""Goal history and lineage: customer_goal_actuals, the customer_goals_history snapshot, the
lineage view and `explain --goal`. Sandbox on loopback, real DuckDB file, real dbt, through
the CLI functions."""

import pytest
from faults_support import SCALE, query, run_environment

from extract.sandbox import SandboxServer
from goalsync import cli

ACTUALS_COLUMNS = [
    ("goal_key", "VARCHAR"),
    ("kpi_id", "VARCHAR"),
    ("actual_position", "INTEGER"),
    ("measured_on", "VARCHAR"),
    ("measured_at", "TIMESTAMP WITH TIME ZONE"),
    ("value", "DOUBLE"),
    ("is_latest", "BOOLEAN"),
]


@pytest.fixture
def synced(tmp_path, monkeypatch):
    """A sandbox and a database after one CS Goal Sync run."""
    database = tmp_path / "goalsync.duckdb"
    with SandboxServer(SCALE) as sandbox:
        for name, value in run_environment(database, sandbox.base_url, sandbox.token).items():
            monkeypatch.setenv(name, value)
        assert cli.main([]) == cli.EXIT_OK
        yield sandbox, database


def test_a_run_builds_the_actuals_of_every_kpi_goal_and_marks_the_one_kpi_actuals_uses(synced):
    _, database = synced
    columns = query(
        database,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'gainsight' and table_name = 'customer_goal_actuals' "
        "order by ordinal_position",
    )
    assert columns == ACTUALS_COLUMNS

    per_goal = query(
        database,
        """select goals.goal_key, len(from_json(kpis.actuals, '["json"]')),
                  count(actuals.goal_key), count(*) filter (where actuals.is_latest),
                  any_value(actuals.value) filter (where actuals.is_latest), goals.kpi_actuals,
                  list(actuals.actual_position order by actuals.actual_position)
           from gainsight.customer_goals as goals
           join ecosystems_raw.kpis as kpis on kpis.id = goals.kpi_id
           left join gainsight.customer_goal_actuals as actuals using (goal_key)
           where goals.kpi_id is not null
           group by all""",
    )
    assert per_goal
    for goal_key, received, rows, latest, latest_value, kpi_actuals, positions in per_goal:
        assert rows == (received or 0), goal_key
        assert positions == (list(range(1, rows + 1)) if rows else [None]), goal_key
        assert latest <= 1, goal_key
        assert latest_value == kpi_actuals, goal_key
    assert sum(row[3] for row in per_goal) > 0
    # goals of value drivers without KPIs and rejected goals have no actuals
    strays = query(
        database,
        """select count(*) from gainsight.customer_goal_actuals
           where goal_key not in (select kpi_id from gainsight.customer_goals
                                  where kpi_id is not null)""",
    )
    assert strays == [(0,)]
