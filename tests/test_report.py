"""`orchestrate.py report`: the page of two real chain runs (sandbox on loopback, real DuckDB
file, real dbt), of crafted goals for the on-track rule and the top-N cut, of a database with
no run yet; and the page loaded in headless Chromium."""

import csv
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from faults_support import SCALE, copy_database, environment, query, run_environment

from extract.sandbox import SandboxServer
from goalsync import cli
from goalsync.activity import ensure_activity_tables
from goalsync.jobs_config import load_jobs_config
from goalsync.paths import PROJECT_ROOT
from goalsync.report import collect, queries, write_report

CHAIN = "CS Goal Sync then Company Value Summary"
CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (`.ci/run` installs the Debian package)"
)


class Elements(HTMLParser):
    """Every element of a page: tag, attributes and the text up to the next tag."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str, css_class: str | None = None) -> int:
        return sum(
            1
            for found_tag, attrs in self.found
            if found_tag == tag
            and (css_class is None or css_class in attrs.get("class", "").split())
        )

    @property
    def all_text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """A database after two runs of the chain, the sandbox mutated in between."""
    database = tmp_path_factory.mktemp("report") / "goalsync.duckdb"
    with (
        SandboxServer(SCALE) as sandbox,
        environment(run_environment(database, sandbox.base_url, sandbox.token)),
    ):
        assert cli.main(["run", "--chain", CHAIN]) == cli.EXIT_OK
        sandbox.mutate()
        assert cli.main(["run", "--chain", CHAIN]) == cli.EXIT_OK
    return database


@pytest.fixture
def database(two_runs, tmp_path, monkeypatch) -> Path:
    copied = copy_database(two_runs, tmp_path / "goalsync.duckdb")
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(copied))
    return copied


@pytest.fixture(scope="module")
def report_page(two_runs, tmp_path_factory) -> Path:
    """The report of the two runs, written once for the browser tests."""
    out = tmp_path_factory.mktemp("report-page") / "report.html"
    with environment({"GOALSYNC_DUCKDB_PATH": str(two_runs)}):
        assert cli.main(["report", "--out", str(out)]) == cli.EXIT_OK
    return out


def test_report_shows_the_jobs_their_runs_errors_and_goal_progress(database, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert cli.main(["report", "--out", str(out)]) == cli.EXIT_OK
    assert str(out) in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    elements = Elements(page)
    text = elements.all_text

    # jobs list as Gainsight shows it: each job's last run status and schedule type
    last_status = dict(
        query(
            database,
            "select job_name, arg_max(status, run_id) from activity.job_runs group by job_name",
        )
    )
    assert set(last_status) == {"CS Goal Sync", "Company Value Summary"}
    for job_name, status in last_status.items():
        assert re.search(rf"<tr><td>{job_name}</td><td>{status}</td><td>\d{{4}}-", page)
    assert "On Demand" in text

    # run history: one chart per job, one bar per non-zero count with the run's figure
    assert elements.count("svg", "chart") >= 2
    for run_id, *counts in query(
        database,
        "select run_id, rows_inserted, rows_updated, rows_deleted, rows_failed "
        "from activity.job_runs",
    ):
        for name, value in zip(("inserted", "updated", "deleted", "failed"), counts, strict=True):
            shown = f"<title>run {run_id}: {value:,} {name}</title>" in page
            assert shown == bool(value), (run_id, name, value)
    changed = query(database, "select sum(rows_updated), sum(rows_deleted) from activity.job_runs")
    assert all(changed[0]), changed  # the second run updated and deleted goals: bars of each

    # error records of each job's last run, by reason, with the export command
    for run_id, reason, records in query(
        database,
        """select run_id, reason, count(*) from activity.error_records
           where run_id in (select max(run_id) from activity.job_runs group by job_name)
           group by all""",
    ):
        assert re.search(rf"<td>{reason}</td><td>[a-z_]+</td><td class=\"num\">{records}<", page)
        command = f"uv run orchestrate.py errors --run {run_id} --csv errors-run-{run_id}.csv"
        assert command in page
        # the command shown is the real one: it writes the same records
        exported = tmp_path / f"errors-run-{run_id}.csv"
        assert cli.main(command.split()[3:-1] + [str(exported)]) == cli.EXIT_OK
        with open(exported, encoding="utf-8") as handle:
            assert sum(row["reason"] == reason for row in csv.DictReader(handle)) == records

    # goal progress: the top company's share on track, computed here from customer_goals
    top_company, kpis, on_track, counted = query(
        database,
        """select coalesce(c.name, g.company_gsid), count(g.kpi_id),
                  count(*) filter (where (g.kpi_target > g.kpi_baseline
                                          and g.kpi_actuals >= g.kpi_baseline)
                                      or (g.kpi_target < g.kpi_baseline
                                          and g.kpi_actuals <= g.kpi_baseline)
                                      or (g.kpi_target = g.kpi_baseline
                                          and g.kpi_actuals = g.kpi_target)),
                  count(*) filter (where g.kpi_actuals is not null
                                   and g.kpi_baseline is not null and g.kpi_target is not null)
           from gainsight.customer_goals g left join gainsight.company c on c.gsid = g.company_gsid
           group by all order by 2 desc, count(*) desc, 1 limit 1""",
    )[0]
    assert f"<td>{top_company}</td>" in page
    assert f"{on_track} / {counted}</td>" in page
    assert f"{on_track / counted:.0%}" in page
    assert elements.count("table", "kpis") >= 1
    assert elements.count("svg", "sparkline") >= 1

    # a KPI's actuals over time: one dot per dated actual of the KPI the page names
    featured = re.search(r"goal <code>([^<]+)</code>", page).group(1)
    dated = query(
        database,
        "select count(*) from gainsight.customer_goal_actuals "
        "where goal_key = ? and measured_at is not null and value is not null",
        [featured],
    )[0][0]
    chart = page[page.index('id="kpi-actuals"') :]
    chart = chart[: chart.index("</svg>")]
    assert dated >= 2
    assert chart.count('<circle class="actual') == dated
    assert chart.count('<circle class="actual latest"') == 1


def test_report_is_self_contained(report_page):
    page = report_page.read_text(encoding="utf-8")
    assert "<style>" in page and "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?[a-z]+:""", page, re.IGNORECASE)
    assert "url(" not in page and "@import" not in page


def test_default_report_goes_beside_the_database(database, capsys):
    assert cli.main(["report"]) == cli.EXIT_OK
    expected = database.parent / "goalsync-report.html"
    assert f"Wrote the report to {expected}" in capsys.readouterr().out
    assert "Run history" in expected.read_text(encoding="utf-8")


def goal_rows(rows: list[tuple]) -> str:
    return ", ".join(
        "(" + ", ".join("null" if value is None else repr(value) for value in row) + ")"
        for row in rows
    )


def crafted_goals(path: Path, rows: list[tuple]) -> Path:
    """customer_goals (the columns the report reads) with these rows, and one run."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema gainsight")
        connection.execute(
            """create table gainsight.customer_goals (
                   company_gsid varchar, account_name varchar, goal_key varchar, kpi_id varchar,
                   kpi_name varchar, value_driver_name varchar, total_benefit double,
                   kpi_baseline double, kpi_target double, kpi_actuals double)"""
        )
        connection.execute(f"insert into gainsight.customer_goals values {goal_rows(rows)}")
        connection.execute(
            "create schema activity; create table activity.job_runs as select 1 as run_id, "
            "'CS Goal Sync' as job_name, 'Success' as status, now()::timestamp as started_at, "
            "1 as rows_inserted, 0 as rows_updated, 0 as rows_deleted, 0 as rows_failed"
        )
    return path


@pytest.mark.parametrize(
    ("baseline", "target", "actual", "on_track"),
    [
        (10.0, 20.0, 15.0, True),  # increase, moved toward the target
        (10.0, 20.0, 25.0, True),  # increase, past the target
        (10.0, 20.0, 10.0, True),  # increase, at the baseline
        (10.0, 20.0, 9.0, False),  # increase, moved away
        (30.0, 20.0, 25.0, True),  # decrease, moved toward the target
        (30.0, 20.0, 31.0, False),  # decrease, moved away
        (5.0, 5.0, 5.0, True),  # hold, at the target
        (5.0, 5.0, 6.0, False),  # hold, off it
        (10.0, 20.0, None, None),  # no actual: not counted
        (None, 20.0, 15.0, None),  # no baseline: not counted
    ],
)
def test_on_track_follows_the_sign_of_target_minus_baseline(
    tmp_path, baseline, target, actual, on_track
):
    goal = ("c1", "Acme", "kpi_1", "kpi_1", "KPI", "VD", 1.0, baseline, target, actual)
    database = crafted_goals(tmp_path / "goals.duckdb", [goal])
    with duckdb.connect(str(database)) as connection:
        progress = queries.goal_progress(connection)
    assert progress.detailed[0].kpis[0].on_track is on_track
    assert progress.totals.on_track == (1 if on_track else 0)
    assert progress.totals.counted == (0 if on_track is None else 1)


def test_companies_and_kpis_beyond_the_top_n_are_counted_not_listed(tmp_path):
    companies = queries.COMPANIES_LISTED + 7
    kpis_of_first = queries.KPIS_PER_COMPANY + 3
    rows = [
        (f"c{n:03}", f"Company {n:03}", f"kpi_{n}_{k}", f"kpi_{n}_{k}", f"KPI {k}", "VD", 1.0,
         1.0, 2.0, 2.0)
        for n in range(companies)
        for k in range(kpis_of_first if n == 0 else 1)
    ]  # fmt: skip
    database = crafted_goals(tmp_path / "goals.duckdb", rows)
    out = write_report(database, load_jobs_config(), tmp_path / "report.html")
    text = Elements(out.read_text(encoding="utf-8")).all_text
    assert f"Top {queries.COMPANIES_LISTED} companies by KPIs, and 7 more companies." in text
    assert f"Top {queries.KPIS_PER_COMPANY} KPIs by total benefit, and 3 more KPIs." in text
    assert f"all {companies} companies" in text
    assert "Company 000" in text and f"Company {companies - 1:03}" not in text
    assert "customer_goal_actuals is not built yet" in text


@pytest.mark.parametrize("state", ["missing", "no tables", "no runs"])
def test_a_database_without_runs_gives_a_page_saying_no_run_yet(tmp_path, monkeypatch, state):
    database = tmp_path / "data" / "goalsync.duckdb"
    if state != "missing":
        database.parent.mkdir()
        with duckdb.connect(str(database)) as connection:
            if state == "no runs":
                ensure_activity_tables(connection)
    monkeypatch.setenv("GOALSYNC_DUCKDB_PATH", str(database))
    out = tmp_path / "report.html"
    assert cli.main(["report", "--out", str(out)]) == cli.EXIT_OK
    text = Elements(out.read_text(encoding="utf-8")).all_text
    assert "No run yet" in text and "CS Goal Sync never run" in text
    assert database.exists() == (state != "missing")  # the report creates no database
    assert collect(database, load_jobs_config()).has_runs is False


@pytest.mark.parametrize("out", ["missing-folder/report.html", "."])
def test_an_unwritable_out_exits_2_with_one_line(database, tmp_path, capsys, out):
    assert cli.main(["report", "--out", str(tmp_path / out)]) == cli.EXIT_USAGE
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert error.startswith("error: cannot write the report to ") and "--out" in error


def chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    """Headless Chromium with a profile of its own (none left in ~/.config, no shared lock)."""
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            f"--user-data-dir={profile}",
            "--no-sandbox",  # the tests may run as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            *arguments,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def console_messages(chromium_stderr: str) -> list[str]:
    """What the page wrote to the console: errors, warnings, logs (Chromium prints each)."""
    return [line for line in chromium_stderr.splitlines() if ":CONSOLE" in line]


@needs_chromium
def test_console_messages_of_a_page_are_seen(tmp_path):
    """The browser test's console check can fail: a script error on a page is caught."""
    broken = tmp_path / "broken.html"
    broken.write_text("<p>hi</p><script>undefinedFunction();</script>", encoding="utf-8")
    messages = console_messages(
        chromium(tmp_path / "profile", "--dump-dom", broken.as_uri()).stderr
    )
    assert any("undefinedFunction is not defined" in message for message in messages)


@needs_chromium
def test_report_renders_in_headless_chromium(report_page, tmp_path):
    loaded = chromium(tmp_path / "profile", "--dump-dom", report_page.as_uri())
    assert console_messages(loaded.stderr) == []
    dom = Elements(loaded.stdout)
    for css_class in ("jobs", "errors", "companies", "kpis"):
        assert dom.count("table", css_class) >= 1, css_class
    tags = Counter(tag for tag, _ in dom.found)
    assert dom.count("svg", "chart") >= 3  # a run history per job and the KPI's actuals
    assert dom.count("rect", "bar") >= 4 and dom.count("circle", "actual") >= 2
    assert tags["polyline"] >= 1 and tags["td"] > 50
    assert "No run yet" not in dom.all_text

    screenshot = tmp_path / "report.png"
    chromium(
        tmp_path / "profile",
        "--window-size=1280,3200",
        f"--screenshot={screenshot}",
        report_page.as_uri(),
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 50_000  # a page with content, not a blank one


def test_the_report_benchmark_database_gives_a_full_page(tmp_path):
    """benchmarks/report_page.py's generated database has what every section reads."""
    from benchmarks.report_page import generate

    database = tmp_path / "goals.duckdb"
    generate(database, goals=2_000)
    data = collect(database, load_jobs_config())
    assert data.progress.totals.goals == 2_000 and data.progress.more_companies == 80
    assert data.histories[0].older_runs == 70 and data.errors[0].total == 52
    assert all(len(series) == 6 for series in data.progress.actuals.values())


def test_the_jobs_list_shows_a_chain_schedule_over_the_jobs_own(tmp_path):
    """A job in a scheduled chain is Scheduled with the chain's next run; the others on demand."""
    jobs_yml = (PROJECT_ROOT / "jobs.yml").read_text(encoding="utf-8")
    chain = "  - name: CS Goal Sync\n    jobs: [CS Goal Sync]\n    schedule: null"
    assert chain in jobs_yml
    scheduled = tmp_path / "jobs.yml"
    scheduled.write_text(jobs_yml.replace(chain, chain.replace("null", '"0 7 * * *"')))
    goal = ("c1", "Acme", "kpi_1", "kpi_1", "KPI", "VD", 1.0, 1.0, 2.0, 2.0)
    database = crafted_goals(tmp_path / "goals.duckdb", [goal])
    out = write_report(database, load_jobs_config(scheduled), tmp_path / "report.html")
    page = out.read_text(encoding="utf-8")
    assert re.search(
        r"<tr><td>CS Goal Sync</td><td>Success</td><td>[^<]+</td><td>Scheduled</td>"
        r"<td>\d{4}-\d\d-\d\d 07:00:00</td></tr>",
        page,
    )
    assert "<tr><td>Company Value Summary</td><td>never run</td><td></td><td>On Demand</td>" in page
