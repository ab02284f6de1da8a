"""jobs.yml: typed jobs and chains, the locked out-of-the-box job, one-line errors with lines."""

import textwrap
from pathlib import Path

import pytest
import yaml

from goalsync.errors import ConfigError
from goalsync.jobs_config import (
    BUILTIN_JOBS_PATH,
    CS_GOAL_SYNC,
    CS_GOAL_SYNC_NAME,
    DEFAULT_CHAIN,
    ChainSpec,
    Destination,
    JobSpec,
    load_jobs_config,
    read_builtin_jobs,
)
from goalsync.paths import PROJECT_ROOT

CUSTOM_JOB = """\
jobs:
  - name: CS Goal Sync
    schedule: "30 6 * * 1-5"
    dependent_job: Company Value Summary
    notify:
      on_success: [cs-ops@customer.example]
      on_failure: [admin@customer.example, oncall@customer.example]
  - name: Company Value Summary
    model: company_value_summary
    errors_model: company_value_summary_errors
    extract: [documents, value_drivers]
    destination:
      object: company_value_summary
      kind: company
      operation: upsert
      key: [company_gsid]
      compare_exclude: [refreshed_at]
chains:
  - name: Nightly
    jobs: [CS Goal Sync, Company Value Summary]
    schedule: "0 2 * * *"
"""


def write_jobs(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    path = write_jobs(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_jobs_config(path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{path} line ")
    return message


def test_missing_file_gives_the_out_of_the_box_job_and_default_chain(tmp_path):
    config = load_jobs_config(tmp_path / "absent.yml")

    assert config.jobs == {CS_GOAL_SYNC_NAME: CS_GOAL_SYNC}
    assert config.chains == {CS_GOAL_SYNC_NAME: ChainSpec(CS_GOAL_SYNC_NAME, (CS_GOAL_SYNC_NAME,))}
    assert config.path == tmp_path / "absent.yml"


def test_empty_file_gives_the_defaults(tmp_path):
    config = load_jobs_config(write_jobs(tmp_path, "# nothing yet\n"))

    assert list(config.jobs) == [CS_GOAL_SYNC_NAME]
    assert list(config.chains) == [CS_GOAL_SYNC_NAME]


def test_out_of_the_box_job_is_built_in():
    expected = JobSpec(
        name="CS Goal Sync",
        model="customer_goals",
        errors_model="customer_goals_errors",
        extract=("documents", "value_drivers", "kpis"),
        destination=Destination("customer_goals", "standard", "replace", ("goal_key",), ("gsid",)),
        schedule=None,
        dependent_job=None,
        notify_on_success=(),
        notify_on_failure=(),
        locked=True,
        also_builds=("customer_goal_actuals", "customer_goals_history", "customer_goals_lineage"),
    )
    assert expected == CS_GOAL_SYNC
    assert DEFAULT_CHAIN.jobs == (CS_GOAL_SYNC_NAME,)


def test_shipped_jobs_yml_has_the_defaults_and_the_example_custom_job():
    config = load_jobs_config(PROJECT_ROOT / "jobs.yml")

    assert config.jobs[CS_GOAL_SYNC_NAME] == CS_GOAL_SYNC
    assert config.chains[CS_GOAL_SYNC_NAME] == DEFAULT_CHAIN
    assert config.job("Company Value Summary").destination == Destination(
        "company_value_summary", "company", "upsert", ("company_gsid",)
    )
    assert config.chain("CS Goal Sync then Company Value Summary").jobs == (
        CS_GOAL_SYNC_NAME,
        "Company Value Summary",
    )


def test_custom_job_chain_and_oob_settings_load_into_typed_objects(tmp_path):
    config = load_jobs_config(write_jobs(tmp_path, CUSTOM_JOB))

    oob = config.job(CS_GOAL_SYNC_NAME)
    assert oob.locked and oob.model == "customer_goals"
    assert oob.schedule == "30 6 * * 1-5"
    assert oob.dependent_job == "Company Value Summary"
    assert oob.notify_on_success == ("cs-ops@customer.example",)
    assert oob.notify_on_failure == ("admin@customer.example", "oncall@customer.example")
    custom = config.job("Company Value Summary")
    assert custom == JobSpec(
        name="Company Value Summary",
        model="company_value_summary",
        errors_model="company_value_summary_errors",
        extract=("documents", "value_drivers"),
        destination=Destination(
            "company_value_summary", "company", "upsert", ("company_gsid",), ("refreshed_at",)
        ),
        schedule=None,
        dependent_job=None,
        locked=False,
    )
    assert list(config.chains) == [CS_GOAL_SYNC_NAME, "Nightly"]
    assert config.chain("Nightly") == ChainSpec(
        "Nightly", ("CS Goal Sync", "Company Value Summary"), "0 2 * * *"
    )
    assert [chain.name for chain in config.chains_containing("Company Value Summary")] == [
        "Nightly"
    ]


def test_custom_job_extracts_everything_by_default(tmp_path):
    config = load_jobs_config(
        write_jobs(
            tmp_path,
            """\
            jobs:
              - name: Goals Copy
                model: goals_copy
                destination: {object: goals_copy, kind: custom, operation: replace}
            """,
        )
    )

    job = config.job("Goals Copy")
    assert job.extract == ("documents", "value_drivers", "kpis")
    assert job.destination.key == () and job.errors_model is None
    assert list(config.jobs) == [CS_GOAL_SYNC_NAME, "Goals Copy"]


def test_file_may_redefine_the_default_chain(tmp_path):
    config = load_jobs_config(
        write_jobs(
            tmp_path,
            """\
            chains:
              - name: CS Goal Sync
                jobs: [CS Goal Sync]
                schedule: "0 */4 * * *"
            """,
        )
    )

    assert config.chain(CS_GOAL_SYNC_NAME).schedule == "0 */4 * * *"
    assert len(config.chains) == 1


def test_lookup_of_unknown_job_or_chain_lists_the_known_ones(tmp_path):
    config = load_jobs_config(tmp_path / "absent.yml")

    with pytest.raises(ConfigError, match=r"unknown job 'Nope' \(known: 'CS Goal Sync'\)"):
        config.job("Nope")
    with pytest.raises(ConfigError, match=r"unknown chain 'Nope' \(known: 'CS Goal Sync'\)"):
        config.chain("Nope")
    assert config.job("cs goal sync").name == CS_GOAL_SYNC_NAME


@pytest.mark.parametrize("key", ["model", "destination", "extract", "fields", "mapping"])
def test_out_of_the_box_job_is_locked(tmp_path, key):
    message = config_error(
        tmp_path,
        f"""\
        jobs:
          - name: CS Goal Sync
            schedule: null
            {key}: something
        """,
    )

    assert (
        f"line 4: the out-of-the-box job 'CS Goal Sync' cannot be modified (key '{key}')" in message
    )
    assert message.endswith("add a custom job instead")


INVALID_FILES = [
    pytest.param("jobs:\n  - name: A\n   model: x\n", 3, "invalid YAML", id="yaml-syntax"),
    pytest.param("jobs: []\nschedules: []\n", 2, "unknown key 'schedules'", id="top-level-key"),
    pytest.param(
        "jobs:\n  - name: A\n    model: a\n    destination: {object: a, kind: custom, "
        "operation: replace}\n    shedule: '0 1 * * *'\n",
        5,
        "unknown key 'shedule' in job 'A'",
        id="job-key",
    ),
    pytest.param("jobs:\n  - model: a\n", 2, "a job has no name", id="missing-name"),
    pytest.param(
        "jobs:\n  - name: A\n    model: a\n    destination: {object: a, kind: custom, "
        "operation: replace}\n  - name: A\n    model: b\n",
        5,
        "duplicate job name 'A' (also on line 2)",
        id="duplicate-job",
    ),
    pytest.param(
        "jobs:\n  - name: A\n    model: a\n    destination: {object: a, kind: custom, "
        "operation: replace}\n    also_builds: [customer_goals_history]\n",
        5,
        "only a built-in job may set 'also_builds' (job 'A')",
        id="also-builds-custom",
    ),
    pytest.param(
        "jobs:\n  - name: Value Summary\n    model: a\n    destination: {object: a, kind: "
        "custom, operation: replace}\n  - name: value-summary!\n    model: b\n",
        5,
        "job names 'Value Summary' (line 2) and 'value-summary!' give the same dbt name "
        "'value_summary'",
        id="job-names-same-slug",
    ),
    pytest.param(
        "chains:\n  - name: C\n    jobs: [CS Goal Sync]\n  - name: C\n    jobs: [CS Goal Sync]\n",
        4,
        "duplicate chain name 'C'",
        id="duplicate-chain",
    ),
    pytest.param(
        "jobs:\n  - name: cs goal sync\n    model: a\n",
        2,
        "differs only in case from the built-in job 'CS Goal Sync'",
        id="oob-name-case",
    ),
    pytest.param(
        "chains:\n  - name: C\n    jobs:\n      - CS Goal Sync\n      - Missing Job\n",
        5,
        "chain 'C' names unknown job 'Missing Job'",
        id="chain-unknown-job",
    ),
    pytest.param(
        "chains:\n  - name: C\n    jobs: []\n", 2, "chain 'C' has no jobs", id="chain-empty"
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    dependent_job: Ghost\n",
        3,
        "unknown dependent_job 'Ghost'",
        id="dependent-unknown",
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    dependent_job: CS Goal Sync\n",
        3,
        "cycle: CS Goal Sync -> CS Goal Sync",
        id="dependent-self",
    ),
    pytest.param(
        "jobs:\n"
        "  - name: CS Goal Sync\n    dependent_job: B\n"
        "  - name: B\n    model: b\n"
        "    destination: {object: b, kind: custom, operation: replace}\n"
        "    dependent_job: CS Goal Sync\n",
        3,
        "cycle: CS Goal Sync -> B -> CS Goal Sync",
        id="dependent-cycle",
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    schedule: '0 7 * *'\n",
        3,
        "schedule '0 7 * *' is not a valid 5-field cron expression",
        id="cron-fields",
    ),
    pytest.param(
        "chains:\n  - name: C\n    jobs: [CS Goal Sync]\n    schedule: '61 7 * * *'\n",
        4,
        "schedule '61 7 * * *' is not a valid",
        id="cron-range",
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    schedule: '0 0 7 * * * *'\n",
        3,
        "not a valid 5-field cron",
        id="cron-seconds-and-year",
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    schedule: '0 7 31 2 *'\n",
        3,
        "schedule '0 7 31 2 *' never fires",
        id="cron-impossible-date",
    ),
    pytest.param(
        "jobs:\n  - name: A\n    model: a\n    extract:\n      - documents\n      - contacts\n"
        "    destination: {object: a, kind: custom, operation: replace}\n",
        6,
        "unknown extract resource 'contacts'",
        id="extract-resource",
    ),
    pytest.param(
        "jobs:\n  - name: A\n    model: a\n    destination:\n      object: a\n      kind: table\n"
        "      operation: replace\n",
        6,
        "destination kind 'table' is not valid",
        id="destination-kind",
    ),
    pytest.param(
        "jobs:\n  - name: A\n    model: a\n    destination:\n      object: a\n      kind: custom\n"
        "      operation: merge\n",
        7,
        "destination operation 'merge' is not valid",
        id="destination-operation",
    ),
    pytest.param(
        "jobs:\n  - name: A\n    model: a\n    destination:\n      object: a\n      kind: custom\n"
        "      operation: upsert\n",
        7,
        "destination operation 'upsert' needs a key",
        id="upsert-without-key",
    ),
    pytest.param(
        "jobs:\n  - name: A\n    destination: {object: a, kind: custom, operation: replace}\n",
        2,
        "job 'A' has no 'model'",
        id="custom-without-model",
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    notify:\n      on_failure:\n        - ops@example.com\n"
        "        - not-an-email\n",
        6,
        "'not-an-email' in notify.on_failure is not an email address",
        id="notify-email",
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    notify:\n      on_error: [a@example.com]\n",
        4,
        "unknown key 'on_error' in 'notify'",
        id="notify-key",
    ),
    pytest.param(
        "jobs:\n  - name: CS Goal Sync\n    schedule: '0 1 * * *'\n    schedule: '0 2 * * *'\n",
        4,
        "key 'schedule' appears twice",
        id="duplicate-key",
    ),
    pytest.param("- just a list\n", 1, "the file is not a mapping", id="not-a-mapping"),
]


@pytest.mark.parametrize(("text", "line", "problem"), INVALID_FILES)
def test_invalid_file_gives_one_line_with_file_line_and_fix(tmp_path, text, line, problem):
    message = config_error(tmp_path, text)

    assert message.startswith(f"{tmp_path / 'jobs.yml'} line {line}: "), message
    assert problem in message
    fix = message.split("; ")[-1]
    assert len(fix) > 5, message


def test_the_built_in_file_defines_the_out_of_the_box_job_and_default_chain():
    builtin = yaml.safe_load(BUILTIN_JOBS_PATH.read_text(encoding="utf-8"))
    [job] = builtin["jobs"]
    assert (job["name"], job["model"], job["errors_model"]) == (
        CS_GOAL_SYNC.name,
        CS_GOAL_SYNC.model,
        CS_GOAL_SYNC.errors_model,
    )
    assert tuple(job["extract"]) == CS_GOAL_SYNC.extract
    assert tuple(job["also_builds"]) == CS_GOAL_SYNC.also_builds
    assert job["destination"] == {
        "object": CS_GOAL_SYNC.destination.object_name,
        "kind": CS_GOAL_SYNC.destination.kind,
        "operation": CS_GOAL_SYNC.destination.operation,
        "key": list(CS_GOAL_SYNC.destination.key),
        "compare_exclude": list(CS_GOAL_SYNC.destination.compare_exclude),
    }
    assert builtin["chains"] == [{"name": DEFAULT_CHAIN.name, "jobs": list(DEFAULT_CHAIN.jobs)}]


def test_an_edited_built_in_file_changes_the_locked_job_and_jobs_yml_still_cannot(tmp_path):
    edited = tmp_path / "builtin_jobs.yml"
    text = BUILTIN_JOBS_PATH.read_text(encoding="utf-8")
    edited.write_text(text.replace("model: customer_goals\n", "model: customer_goals_v2\n"))
    builtin = read_builtin_jobs(edited)
    oob = builtin.job(CS_GOAL_SYNC_NAME)
    assert (oob.model, oob.locked) == ("customer_goals_v2", True)

    path = write_jobs(
        tmp_path,
        """\
        jobs:
          - name: CS Goal Sync
            schedule: "0 7 * * *"
            model: customer_goals
        """,
    )
    with pytest.raises(ConfigError) as raised:
        load_jobs_config(path, builtin)
    assert str(raised.value) == (
        f"{path} line 4: the out-of-the-box job 'CS Goal Sync' cannot be modified (key 'model'); "
        "only 'schedule', 'dependent_job', 'notify' may be set for it; add a custom job instead"
    )
    assert load_jobs_config(path.with_name("absent.yml"), builtin).job(CS_GOAL_SYNC_NAME) == oob


TYPE_ERRORS = [
    pytest.param("key: 5", "line 8: 'key' is not a list; write a YAML list: [a, b]", id="key-5"),
    pytest.param(
        "compare_exclude: [[a, b]]",
        "line 8: 'compare_exclude' is not text; write it as a plain value",
        id="nested-list",
    ),
    pytest.param(
        "key: {goal_key: true}",
        "line 8: 'key' is not a list; write a YAML list: [a, b]",
        id="key-mapping",
    ),
]


@pytest.mark.parametrize(("line", "expected"), TYPE_ERRORS)
def test_a_value_of_the_wrong_type_gives_one_line_with_its_line(tmp_path, line, expected):
    message = config_error(
        tmp_path,
        f"""\
        jobs:
          - name: A
            model: a
            destination:
              object: a
              kind: custom
              operation: replace
              {line}
        """,
    )

    assert message == f"{tmp_path / 'jobs.yml'} {expected}"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param(
            "jobs:\n  - name: !!python/name:os.system x\n",
            2,
            "invalid YAML (could not determine a constructor for the tag",
            id="unsafe-tag",
        ),
        pytest.param(
            "jobs:\n  - name: A\n    schedule: 2026-13-45\n",
            3,
            "'2026-13-45' is not a valid value (month must be in 1..12)",
            id="impossible-date",
        ),
    ],
)
def test_a_value_yaml_cannot_build_gives_one_line(tmp_path, text, line, problem):
    message = config_error(tmp_path, text)

    assert message.startswith(f"{tmp_path / 'jobs.yml'} line {line}: {problem}"), message
