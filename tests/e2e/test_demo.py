"""`tandem demo --json` on a small program: it exits 0 and its last line is a report that holds up: the
program configured through programs.v1, the people acting only from the links in their mail (the
demo publishing nothing but upstream's events), check-ins, goal progress, every relationship ending
at its term with a closure survey and a certificate, mail in several languages, and the KPI endpoint
agreeing with what the demo itself saw."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tandem.demo import check

pytestmark = pytest.mark.e2e


def test_a_small_demo_runs_and_reports(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    env["TANDEM_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "tandem", "demo", "--json", "--mentees", "16", "--mentors", "6", "--late-mentees", "2",
         "--speed", "10800"],  # a small program's mail keeps up with three program hours a second
        env=env, capture_output=True, text=True, timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert check(report) == []
    assert report["participants"] == 24 and report["time_zones"] >= 10 and report["regions"] >= 3
    assert report["notifications_delivered"] >= 2 * report["matches_established"] > 0
    assert report["relationships_concluded"] == report["ended_at_term"] == report["matches_established"]
    assert report["closure_surveys"] == 2 * report["matches_established"]
    assert report["certificates_mailed"] >= report["certificates"] > 0
    assert report["checkins_asked"] > 0 and report["goals_achieved"] > 0 and len(report["mail_languages"]) >= 4
    assert report["kpi_disagreements"] == [] and report["kpis"]["matches_established"] == report["matches_established"]
    # Everyone's answers came from their mail's links, and were taken by the pages.
    acts = report["link_actions"]
    assert acts["proposal.accept"] >= report["matches_established"]
    assert acts["agreement"] == report["agreements_recorded"] > 0
    assert acts.get("attendance.held", 0) == report["meetings_completed"] > 0
    assert acts["closure"] > 0 and acts["checkin"] == report["checkins_answered"] > 0
    assert report["feedback_received"] == acts.get("feedback", 0) + acts["checkin"] + acts["closure"]
    assert report["links_opened"] >= sum(acts.values()) == report["link_acts_counted"]
    assert set(report["published_by_demo"]) <= {"program.configured", "participant.onboarded",
                                               "cohort.round.requested", "match.requested"}
    assert report["mails_read"] == report["notifications_delivered"] - report["program_team_messages"]
    assert "matched" in result.stderr  # progress went to stderr, the report alone to stdout
    assert "dashboard: http://127.0.0.1:" in result.stderr
    # A mail gateway then opens every link of every mail of the run: pages answer, nothing is written.
    scanner = report["link_scanner"]
    assert scanner["links"] >= report["links_opened"] > 0 and scanner["commands_written"] == 0
    assert not [page for page in scanner["pages"] if page.startswith("?") or page.endswith(" 500")]
