"""Backups that can be trusted, and restores that are drilled (R-BAK-1..5, R-SEC-1).

The stack's own backup, retention and restore scripts run as cron would run them. The restore
drill destroys the database N times (the profile's `policy.backup.drills`) and measures RTO
and RPO against the profile's objectives.
"""

from __future__ import annotations

import datetime as dt

import pytest

from stackproof.backends import Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.problems import Problems
from stackproof.drills.backups import (
    LockWaiter,
    backup_files,
    backup_pattern,
    entries,
    named_moment,
    plant_aged_copy,
    table_locked,
)
from stackproof.drills.restore import DrillSeries
from stackproof.drills.scripts import OpsScripts
from stackproof.drills.stats import summary
from stackproof.drills.tables import fingerprint
from stackproof.errors import PreconditionError, ServiceStartError
from stackproof.profile import Profile
from stackproof.readiness import wait_for
from stackproof.results.drill_charts import distribution_payload

SCRIPT_TIMEOUT_S = 600.0


def _database(scripts: OpsScripts) -> str:
    name = scripts.ops.database
    if name is None:
        pytest.skip("the profile names no PostgreSQL database for its backups (ops.database)")
    return name


def _database_name(profile: Profile, service: str) -> str:
    database = profile.services[service].database
    assert database is not None  # a postgres service always has one
    return database.name


def _leftovers(before: dict[str, int], after: dict[str, int], keep: set[str]) -> list[str]:
    """New files other than `keep`, except empty ones (lock files)."""
    return sorted(n for n, size in after.items() if n not in before and n not in keep and size)


# It takes backups (and retention deletes some) on the stack's host: never on production.
@pytest.mark.destructive
@pytest.mark.requirement("R-BAK-1")
@pytest.mark.needs("backup_database")
def test_backup_is_a_complete_dump_renamed_into_place(
    stack: Stack, ops_scripts: OpsScripts, profile: Profile, evidence: Evidence
) -> None:
    service = _database(ops_scripts)
    name = _database_name(profile, service)
    folder = ops_scripts.ops.backup_dir
    files = ops_scripts.files
    before = entries(files, folder)
    started = dt.datetime.now(dt.UTC)
    result = ops_scripts.run("backup", timeout_s=SCRIPT_TIMEOUT_S)
    ended = dt.datetime.now(dt.UTC)
    evidence.add("backup", result.evidence())
    problems = Problems("a backup")
    problems.expect(result.exit_code == 0, "exit", f"backup exited {result.exit_code}")
    after = entries(files, folder)
    new = [n for n in after if n not in before and backup_pattern(name).match(n)]
    evidence.add("new files", {n: after[n] for n in after if n not in before})
    if len(new) != 1:
        problems.add("name", f"expected one new `{name}-YYYYmmdd-HHMMSS.dump`, found {new}")
        problems.raise_if_any()
    backup = folder / new[0]
    moment = named_moment(backup.name, name)
    assert moment is not None
    local = moment.replace(tzinfo=dt.datetime.now().astimezone().tzinfo)
    window = (started - dt.timedelta(seconds=2), ended + dt.timedelta(seconds=2))
    problems.expect(
        any(window[0] <= m <= window[1] for m in (moment.replace(tzinfo=dt.UTC), local)),
        "name",
        f"{backup.name}: its time is not the time of the backup ({started:%H:%M:%S} UTC)",
    )
    problems.expect(after[backup.name] > 0, "size", f"{backup.name} is empty")
    problems.expect(
        files.read_bytes(backup, limit=5) == b"PGDMP",
        "format",
        f"{backup.name} is not a pg_dump custom-format archive",
    )
    listed = stack.service(service).exec(["pg_restore", "--list", str(backup)])
    problems.expect(listed.returncode == 0, "format", f"pg_restore --list: {listed.stderr[-300:]}")
    for table in fingerprint(stack.service(service).admin_url()):
        schema, _, relation = table.partition(".")
        problems.expect(
            f"TABLE DATA {schema} {relation} " in listed.stdout,
            "complete",
            f"{backup.name} holds no data of {table}",
        )
    leftovers = _leftovers(before, after, {backup.name})
    problems.expect(not leftovers, "temporary", f"left behind: {leftovers}")
    evidence.figure("backup_s", result.seconds, "s")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-BAK-1")
@pytest.mark.needs("backup_database")
def test_a_backup_killed_midway_leaves_nothing_under_a_backup_name(
    own_stack: Stack, own_ops_scripts: OpsScripts, profile: Profile, evidence: Evidence
) -> None:
    """Given a dump frozen mid-way (a table locked), when the backup is SIGKILLed, then no
    file carries a backup's name — a later restore would pick a truncated one."""
    scripts = own_ops_scripts
    service = _database(scripts)
    name = _database_name(profile, service)
    folder = scripts.ops.backup_dir
    files = scripts.files
    admin = own_stack.service(service).admin_url()
    before = entries(files, folder)
    with table_locked(admin) as table:
        running = scripts.start("backup")
        try:
            wait_for(
                LockWaiter(admin),
                timeout_s=60,
                what=f"the dump waiting on {table}",
                give_up=lambda: "the backup ended" if running.exited() else None,
            )
            frozen = entries(files, folder)
        except ServiceStartError as error:
            raise PreconditionError(
                f"the backup never reached the locked table: {error}\n{running.wait(5).describe()}"
            ) from None
        finally:
            running.kill()
    after_crash = entries(files, folder)
    evidence.add("folder while the dump waited", frozen)
    evidence.add("folder after SIGKILL", after_crash)
    problems = Problems("a backup killed mid-way")
    named = [n for n in after_crash if n not in before and backup_pattern(name).match(n)]
    problems.expect(
        not named,
        "final name",
        f"{named}: a killed backup left a file under a backup's name "
        f"({', '.join(f'{after_crash[n]} bytes' for n in named)})",
    )
    retry = scripts.run("backup", timeout_s=SCRIPT_TIMEOUT_S)
    evidence.add("the next backup", retry.evidence())
    problems.expect(
        retry.exit_code == 0,
        "next backup",
        f"the next backup exited {retry.exit_code}: {retry.output[-300:]}",
    )
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-BAK-1")
@pytest.mark.needs("backup_database")
def test_a_failed_dump_leaves_no_backup(
    own_stack: Stack, own_ops_scripts: OpsScripts, profile: Profile, evidence: Evidence
) -> None:
    scripts = own_ops_scripts
    service = _database(scripts)
    name = _database_name(profile, service)
    folder = scripts.ops.backup_dir
    files = scripts.files
    before = entries(files, folder)
    own_stack.service(service).stop()
    try:
        result = scripts.run("backup", timeout_s=SCRIPT_TIMEOUT_S)
    finally:
        own_stack.service(service).start()
    after = entries(files, folder)
    evidence.add("backup with the database down", result.evidence())
    evidence.add("folder afterwards", after)
    problems = Problems("a backup whose dump fails")
    problems.expect(
        result.exit_code not in (0, None),
        "exit",
        f"backup exited {result.exit_code} although the database was down",
    )
    named = [n for n in after if n not in before and backup_pattern(name).match(n)]
    problems.expect(not named, "final name", f"a failed dump left {named} as backups")
    leftovers = _leftovers(before, after, set())
    problems.expect(not leftovers, "temporary", f"a failed dump left {leftovers} behind")
    problems.raise_if_any()


# It takes backups (and retention deletes some) on the stack's host: never on production.
@pytest.mark.destructive
@pytest.mark.requirement("R-BAK-2")
@pytest.mark.needs("backup_database")
def test_retention_keeps_the_retention_period_and_deletes_older_backups(
    ops_scripts: OpsScripts, profile: Profile, evidence: Evidence
) -> None:
    service = _database(ops_scripts)
    name = _database_name(profile, service)
    keep_days = profile.policy.backup.retention_days
    folder = ops_scripts.ops.backup_dir
    files = ops_scripts.files
    fresh = ops_scripts.run("backup", timeout_s=SCRIPT_TIMEOUT_S)
    evidence.add("a fresh backup", fresh.evidence())
    if fresh.exit_code != 0:
        raise PreconditionError(f"no backup to age: {fresh.describe()}")
    written = (fresh.event("written") or {}).get("file")
    if not backup_files(files, folder, name):
        pytest.fail(f"the backup just written ({written}) is gone: retention deleted it")
    source = backup_files(files, folder, name)[-1]
    now = dt.datetime.now(dt.UTC)
    margin = dt.timedelta(hours=2)  # either side of the limit: the check is not about minutes
    limit = dt.timedelta(days=keep_days)
    ages = {
        "half a day": dt.timedelta(hours=12),
        "just inside": limit - margin,
        "just outside": limit + margin,
        "twice the period": 2 * limit,
        "a year": dt.timedelta(days=365),
    }
    planted = {label: plant_aged_copy(files, source, name, age, now) for label, age in ages.items()}
    foreign = folder / "notes.txt"
    files.write_bytes(foreign, b"not a backup: retention must leave it alone\n", 0o640)
    result = ops_scripts.run("retention", timeout_s=SCRIPT_TIMEOUT_S)
    evidence.add("retention", result.evidence())
    problems = Problems(f"retention of {keep_days:g} days")
    problems.expect(result.exit_code == 0, "exit", f"retention exited {result.exit_code}")
    for label, path in planted.items():
        should_stay = ages[label] < limit
        kept = files.stat(path) is not None
        state = "kept" if kept else "deleted"
        evidence.add(f"{label} ({ages[label]})", f"{path.name}: {state}")
        problems.expect(kept == should_stay, label, f"{path.name} ({ages[label]} old) was {state}")
    problems.expect(
        files.stat(source) is not None, "newest", f"the newest backup {source.name} was deleted"
    )
    problems.expect(
        files.stat(foreign) is not None, "foreign", "a file that is not a backup was deleted"
    )
    files.remove(foreign)
    problems.raise_if_any()


# It takes backups (and retention deletes some) on the stack's host: never on production.
@pytest.mark.destructive
@pytest.mark.requirement("R-SEC-1")
@pytest.mark.needs("backup_database")
def test_backups_are_private(ops_scripts: OpsScripts, profile: Profile, evidence: Evidence) -> None:
    service = _database(ops_scripts)
    name = _database_name(profile, service)
    result = ops_scripts.run("backup", timeout_s=SCRIPT_TIMEOUT_S)
    folder = ops_scripts.ops.backup_dir
    files = ops_scripts.files
    problems = Problems("backup permissions")
    problems.expect(result.exit_code == 0, "exit", f"backup exited {result.exit_code}")
    folder_facts = files.stat(folder)
    if folder_facts is None or folder_facts.kind != "dir":
        problems.add("folder", f"{folder} does not exist after a backup")
        problems.raise_if_any()
        return
    folder_mode = folder_facts.mode
    problems.expect(
        folder_mode & 0o077 == 0, "folder", f"{folder} is mode {folder_mode:04o}; at most 0700"
    )
    modes = {}
    for backup in backup_files(files, folder, name):
        facts = files.stat(backup)
        if facts is None:
            continue  # deleted since it was listed: nothing to judge
        mode = facts.mode
        modes[backup.name] = f"{mode:04o}"
        problems.expect(mode & ~0o640 == 0, backup.name, f"mode {mode:04o}; at most 0640")
    problems.expect(bool(modes), "files", "no backup to inspect")
    evidence.add("modes", {"folder": f"{folder_mode:04o}", **modes})
    problems.raise_if_any()


# --- the restore drill: N times destroy the database and bring it back -------------------


def _drill_problems(series: DrillSeries) -> Problems:
    problems = Problems(f"{series.planned} restore drill(s)")
    if series.failure:
        problems.add("series", series.failure)
    for outcome in series.outcomes:
        if outcome.failure:
            problems.add(f"drill {outcome.number}", outcome.failure)
    broken = any(o.failure or o.data_problems for o in series.outcomes)
    if len(series.outcomes) < series.planned and not problems and not broken:
        problems.add("series", f"only {len(series.outcomes)} of {series.planned} drills ran")
    return problems


@pytest.mark.destructive
@pytest.mark.requirement("R-BAK-3")
def test_a_restore_brings_back_every_row_of_the_backed_up_moment(
    restore_drills: DrillSeries, evidence: Evidence
) -> None:
    problems = _drill_problems(restore_drills)
    for outcome in restore_drills.outcomes:
        evidence.add(f"drill {outcome.number}", outcome.facts)
        evidence.add(f"drill {outcome.number} timeline", outcome.chart)
        for problem in outcome.data_problems:
            problems.add(f"drill {outcome.number}", problem)
    if not restore_drills.outcomes and not problems:
        problems.add("series", "no drill ran")
    problems.raise_if_any()


def _objective_check(
    name: str,
    values: list[tuple[int, float | None]],
    objective: float,
    series: DrillSeries,
    evidence: Evidence,
) -> None:
    __tracebackhide__ = True
    problems = _drill_problems(series)
    measured = [(n, v) for n, v in values if v is not None]
    for number, value in values:
        if value is None:
            problems.add(f"drill {number}", f"no {name.upper()} measured")
            continue
        evidence.figure(
            f"{name}_drill_{number}_s", value, "s", objective=objective, comparison="<="
        )
        problems.expect(
            value <= objective,
            f"drill {number}",
            f"{name.upper()} {value:.2f} s exceeds the objective {objective:g} s",
        )
    if measured:
        stats = summary([v for _, v in measured])
        for label, value in stats.items():
            evidence.figure(f"{name}_{label}_s", value, "s", objective=objective, comparison="<=")
        evidence.add(
            f"{name.upper()} distribution",
            distribution_payload(
                f"{name.upper()} over {len(measured)} restore drill(s), against the objective",
                "s",
                [(f"drill {n}", v) for n, v in measured],
                objective,
                stats,
            ),
        )
    else:
        problems.add("series", f"no {name.upper()} was measured")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-BAK-4")
def test_rto_is_within_the_objective(
    restore_drills: DrillSeries, profile: Profile, evidence: Evidence
) -> None:
    """RTO: the database destroyed → ready again with restored data, p50/p95/max."""
    _objective_check(
        "rto",
        [(o.number, o.rto_s) for o in restore_drills.outcomes],
        profile.policy.backup.rto_objective_s,
        restore_drills,
        evidence,
    )


@pytest.mark.destructive
@pytest.mark.requirement("R-BAK-5")
def test_rpo_is_within_the_objective(
    restore_drills: DrillSeries, profile: Profile, evidence: Evidence
) -> None:
    """RPO: the destruction - the newest canary write present after the restore."""
    _objective_check(
        "rpo",
        [(o.number, o.rpo_s) for o in restore_drills.outcomes],
        profile.policy.backup.rpo_objective_s,
        restore_drills,
        evidence,
    )
