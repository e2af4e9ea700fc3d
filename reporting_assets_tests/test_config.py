"""Configuration: the bundled file is complete, and a bad file fails with file, key path and
problem in one clear error."""

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml

from reporting_assets.config import DEFAULT_CONFIG, ConfigError, load_settings


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_default_config_is_complete():
    settings = load_settings(DEFAULT_CONFIG)
    assert settings.calendar.report_timezone == "America/New_York"
    assert {r.cadence for r in settings.reports.values()} == {"daily", "weekly", "monthly"}
    assert settings.reports["daily_executive"].approval == "auto"
    assert settings.reports["monthly_board_report"].approval == "manual"
    for rule in settings.alert_rules:
        assert rule.metric in settings.metrics
    for report in settings.reports.values():
        for lst in report.distribution_lists:
            assert lst in settings.distribution_lists


def test_partitions_start_is_a_date_or_days_ago_never_before_the_history():
    calendar = load_settings(DEFAULT_CONFIG).calendar
    today = date(2026, 11, 30)
    assert calendar.first_partition_day(today) == date(2026, 8, 22)  # "100 days ago"
    fixed = calendar.model_copy(update={"partitions_start": date(2026, 1, 1)})
    assert fixed.first_partition_day(today) == date(2026, 1, 1)
    early = calendar.model_copy(update={"partitions_start": "900 days ago"})
    assert early.first_partition_day(today) == calendar.history_start
    unset = calendar.model_copy(update={"partitions_start": None})
    assert unset.first_partition_day(today) == calendar.history_start


@pytest.mark.parametrize(
    ("mutate", "key_path", "problem"),
    [
        (lambda d: d["channels"]["email"].update(port="lots"), "channels.email.port",
         "valid integer"),
        (lambda d: d["calendar"].update(report_timezone="America/Nowhere"),
         "calendar.report_timezone", "unknown time zone"),
        (lambda d: d["calendar"].update(partitions_start="last spring"),
         "calendar.partitions_start", "neither a date (YYYY-MM-DD) nor 'N days ago'"),
        (lambda d: d["metrics"]["mrr"].update(valid_range=[10, 0]), "metrics.mrr",
         "minimum 10.0 is above its maximum 0.0"),
        (lambda d: d["alert_rules"][0].update(critical=0.01), "alert_rules[0]",
         "critical (0.01) must not be below warning (0.12)"),
        (lambda d: d["alert_rules"][4].update(critical=0.95), "alert_rules[4]",
         "critical (0.95) must not be above warning (0.85)"),
        (lambda d: d["reports"]["daily_executive"].update(cadense="daily"),
         "reports.daily_executive.cadense", "unknown key"),
        (lambda d: d["sources"]["posthog"].update(api_key="phx_live_123"), "sources.posthog",
         "secrets come only from environment variables"),
        (lambda d: d["distribution_lists"]["board"].update(to=["not-an-address"]),
         "distribution_lists.board.to", "not email addresses: not-an-address"),
        (lambda d: d["reports"]["daily_executive"].update(distribution_lists=["nobody"]),
         "(top level)", "unknown distribution list 'nobody'"),
        (lambda d: d["alert_rules"][0].update(metric="profit"), "(top level)",
         "unknown metric 'profit'"),
        # Loads, but would be wrong at run time: refused when the file loads.
        (lambda d: d["reports"]["weekly_business_review"]["sections"].append("cohorts"),
         "reports.weekly_business_review", "sections cohorts are not sections of a weekly report"),
        (lambda d: d["reports"]["weekly_business_review"]["deck_sections"]["c_suite"].append(
            "forecasts"), "reports.weekly_business_review",
         "deck_sections.c_suite: unknown slide(s) forecasts"),
        (lambda d: d["channels"]["email"].update(sender="reports"), "channels.email.sender",
         "'reports' is not an email address"),
        (lambda d: d["distribution_lists"]["board"]["to"].append("chair@gmail.com"),
         "(top level)", "distribution_lists.board.to: chair@gmail.com outside "
         "channels.email.allowed_domains (northwind.example)"),
        (lambda d: d["alert_rules"][0].update(warning=12, critical=25), "(top level)",
         "alert_rules[0] ('payment_failures_high'): warning 12 can never be reached by "
         "payment_failure_rate (ratio, valid range 0 to 1)"),
        (lambda d: d["reports"]["monthly_board_report"].update(
            reviewers=["chief.of.staff@northwind.example"]), "reports.monthly_board_report",
         "approval is manual but no reviewer other than the owner is named"),
        (lambda d: d["metrics"]["first_response_sla_rate"].update(target=95), 
         "metrics.first_response_sla_rate", "target 95 lies outside its valid_range [0.0, 1.0]"),
        (lambda d: d["slo"]["generation_minutes"].update(hourly=1), "slo.generation_minutes",
         "hourly: not a cadence (daily, weekly, monthly)"),
        (lambda d: d["slo"].update(delivery_success=99.5), "slo.delivery_success",
         "less than or equal to 1"),
    ],
)  # fmt: skip
def test_bad_config_names_file_path_and_problem(tmp_path, mutate, key_path, problem):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key_path}: "), message
    assert problem in message


def test_literal_secret_value_never_echoed(tmp_path):
    path = _write(tmp_path, lambda d: d["sources"]["posthog"].update(api_key="phx_live_123"))
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "phx_live_123" not in str(err.value)
    assert "api_key_env" in str(err.value)


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("branding:\n  company_name: [unclosed\ncalendar: {}\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: line \d+, column \d+: invalid YAML"):
        load_settings(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_cli_reports_the_error_and_exits_non_zero(tmp_path):
    path = _write(tmp_path, lambda d: d["channels"]["email"].update(port="lots"))
    result = subprocess.run(
        [sys.executable, "-m", "reporting_assets.cli", "check-config", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{path}: channels.email.port:" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_recommendation_on_a_finding_never_measured_is_refused_at_load(tmp_path):
    """The rule would never fire: `check-config` and loading the definitions (what Dagster does)
    both refuse it, naming the file, the key and the findings there are."""
    path = _write(tmp_path, lambda d: d["recommendations"][0].update(metric="happiness"))
    check = subprocess.run(
        [sys.executable, "-m", "reporting_assets.cli", "check-config", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 2
    assert f"{path}: recommendations[0] ('prioritise_dunning').metric: unknown finding " \
        "'happiness'" in check.stderr  # fmt: skip
    load = subprocess.run(
        [sys.executable, "-c", "import reporting_assets.definitions"], capture_output=True,
        text=True, timeout=120, env={**os.environ, "REPORTING_CONFIG": str(path)},
    )  # fmt: skip
    assert load.returncode != 0
    assert f"{path}: recommendations[0] ('prioritise_dunning').metric" in load.stderr
