"""The restore drill: measured RTO and RPO, and the restored data checked table by table.

One drill: the canary writes through the service; a backup is taken (`ops backup`); the
writing goes on; the database is destroyed (killed, its data wiped); `ops restore` runs.

- RTO = destruction → every service that needs the database answers readiness 200 *and* the
  canary reads back a restored row.
- RPO = destruction - the acknowledgement of the newest canary row present after the restore.
- Data: every table of the database before the destruction is back with the same rows
  (count and checksum); the canary table holds exactly the rows up to the newest restored
  one, including every row acknowledged before the backup began.

Before the first drill a baseline backup is taken (a stack in service has older backups:
the restore must pick the newest). The series stops at the first drill that fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stackproof.backends.base import Stack
from stackproof.checks.health import dependants, health_endpoint
from stackproof.drills.canary import CanaryEndpoint, CanaryPresent, CanaryWriter
from stackproof.drills.scripts import OpsScripts, RunningScript, ScriptResult
from stackproof.drills.tables import TableState, fingerprint, row_hashes
from stackproof.drills.timeline import marks_lane, script_lane
from stackproof.errors import ServiceStartError
from stackproof.profile.model import BackupPolicy
from stackproof.readiness import AllOf, Check, Condition, wait_for
from stackproof.results.drill_charts import Lane, Span, timeline_payload

SCRIPT_TIMEOUT_S = 1800.0
WRITES_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class DrillOutcome:
    number: int
    rto_s: float | None = None
    rpo_s: float | None = None
    restored_seq: int | None = None
    acked_before_backup: int = 0
    acked_at_backup_end: int = 0
    acked_at_destruction: int = 0
    backup: str | None = None
    data_problems: tuple[str, ...] = ()
    failure: str | None = None
    chart: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DrillSeries:
    outcomes: tuple[DrillOutcome, ...]
    planned: int
    failure: str | None = None  # the series could not start


class _Predicate:
    """A condition from a description and a test, for waits on the drill's own state."""

    def __init__(self, description: str, test: Callable[[], bool]) -> None:
        self.description = description
        self._test = test

    def check(self) -> Check:
        return Check(bool(self._test()), "not yet")


def _await(condition: Condition, timeout_s: float, what: str) -> None:
    wait_for(condition, timeout_s=timeout_s, what=what, interval_s=0.05)


class RestoreDrill:
    def __init__(self, stack: Stack, policy: BackupPolicy) -> None:
        profile = stack.profile
        if profile.canary is None:
            raise ValueError("the profile has no [canary]: the drill cannot measure RPO")
        self.stack = stack
        self.policy = policy
        self.scripts = OpsScripts(stack)
        database = self.scripts.ops.database
        if database is None:
            raise ValueError("the profile names no database to back up (ops.database)")
        self.database = database
        self.services = dependants(stack, database) or [profile.canary.service]
        canary = profile.canary
        token = stack.secret(canary.token_secret) if canary.token_secret else None
        base = stack.service(canary.service).base_url()
        self.canary = CanaryEndpoint(base, canary, token)
        self.writer = CanaryWriter(self.canary, policy.canary_rate_per_s)

    # --- steps ---

    def backup(self) -> ScriptResult:
        return self.scripts.run("backup", timeout_s=SCRIPT_TIMEOUT_S)

    def _writes(self, at_least: int) -> None:
        _await(
            _Predicate(
                f"{at_least} canary writes acknowledged",
                lambda: self.writer.last_acked >= at_least,
            ),
            WRITES_TIMEOUT_S,
            "the canary writer",
        )

    def _ready_with_data(self) -> Condition:
        readiness = [
            health_endpoint(self.stack, name, "readiness").answers({200}) for name in self.services
        ]
        return AllOf((*readiness, CanaryPresent(self.canary)))

    def _give_up(self, restore: RunningScript, condition: Condition) -> str | None:
        if not restore.exited():
            return None
        seen = condition.check()  # it may have come true as the script ended
        if seen.ok:
            return None
        code = restore.process.exit_code()
        return f"the restore script ended (exit {code}) and still: {seen.seen}"

    def one(self, number: int) -> DrillOutcome:
        started = time.monotonic()
        try:
            self._writes(self.writer.last_acked + self.policy.canary_writes_before_backup)
            before_backup = self.writer.last_acked
            backup = self.backup()
            if backup.exit_code != 0:
                return DrillOutcome(number, failure=f"the backup failed: {backup.describe()}")
            backup_end = self.writer.last_acked
            self._writes(backup_end + self.policy.canary_writes_after_backup)
        except ServiceStartError as error:
            return DrillOutcome(
                number,
                failure=f"the canary writes stalled ({self.writer.failures} refused): {error}",
            )
        self.writer.stop()  # writes after the destruction would only land in the restored copy
        admin = self.stack.service(self.database).admin_url()
        source = fingerprint(admin)
        canary = self.stack.profile.canary
        assert canary is not None
        source_rows = row_hashes(admin, canary.table, canary.key)
        at_destruction = self.writer.last_acked
        destroyed = time.monotonic()
        self.stack.service(self.database).destroy()
        restore = self.scripts.start("restore")
        condition = self._ready_with_data()
        failure: str | None = None
        try:
            wait_for(
                condition,
                timeout_s=self.policy.rto_objective_s,
                what=f"drill {number}: the services ready with restored data",
                give_up=lambda: self._give_up(restore, condition),
                interval_s=0.05,
            )
            ready: float | None = time.monotonic()
        except ServiceStartError as error:
            ready, failure = None, str(error)
        result = restore.wait(SCRIPT_TIMEOUT_S)
        if failure is None and result.exit_code != 0:
            failure = f"the restore script failed: {result.describe()}"
        elif failure is not None:
            failure += f"\nrestore output:\n{result.output}"
        _, restored_seq = self.canary.latest()
        rpo = None
        if restored_seq is not None and restored_seq in self.writer.acked:
            rpo = destroyed - self.writer.acked[restored_seq]
        problems = self._data_problems(source, source_rows, restored_seq, before_backup)
        chart = self._chart(
            number,
            origin=started,
            backup=backup,
            restore=result,
            destroyed=destroyed,
            ready=ready,
            restored_seq=restored_seq,
        )
        facts = {
            "backup": backup.event("written"),
            "restore_events": [e.get("event") for e in result.events],
            "canary_acked_before_backup": before_backup,
            "canary_acked_at_destruction": at_destruction,
            "canary_newest_restored": restored_seq,
            "tables_before": {k: [v.rows, v.checksum[:12]] for k, v in source.items()},
        }
        written = backup.event("written") or {}
        return DrillOutcome(
            number=number,
            rto_s=None if ready is None or restored_seq is None else ready - destroyed,
            rpo_s=rpo,
            restored_seq=restored_seq,
            acked_before_backup=before_backup,
            acked_at_backup_end=backup_end,
            acked_at_destruction=at_destruction,
            backup=str(written.get("file")) if written else None,
            data_problems=tuple(problems),
            failure=failure,
            chart=chart,
            facts=facts,
        )

    def _data_problems(
        self,
        source: dict[str, TableState],
        source_rows: dict[int, str],
        restored_seq: int | None,
        before_backup: int,
    ) -> list[str]:
        canary = self.stack.profile.canary
        assert canary is not None
        try:
            admin = self.stack.service(self.database).admin_url()
            after = fingerprint(admin)
            after_rows = (
                row_hashes(admin, canary.table, canary.key) if canary.table in after else {}
            )
        except Exception as error:  # the database itself is the finding here
            return [f"cannot read the restored database: {type(error).__name__}: {error}"]
        problems = []
        for table, state in source.items():
            if table == canary.table:
                continue
            restored = after.get(table)
            if restored is None:
                problems.append(f"{table}: missing after the restore")
            elif restored.rows != state.rows:
                problems.append(f"{table}: {restored.rows} rows, {state.rows} before")
            elif restored.checksum != state.checksum:
                problems.append(f"{table}: the rows differ from before (checksum)")
        if canary.table not in after:
            return [*problems, f"{canary.table}: missing after the restore"]
        newest = restored_seq or 0
        expected = {k: h for k, h in source_rows.items() if k <= newest}
        if after_rows != expected:
            lost = sorted(set(expected) - set(after_rows))
            changed = sorted(
                k for k in expected if k in after_rows and after_rows[k] != expected[k]
            )
            extra = sorted(set(after_rows) - set(expected))
            problems.append(
                f"{canary.table}: rows up to {newest} differ from before the destruction "
                f"(missing {lost[:5]}, changed {changed[:5]}, unexpected {extra[:5]})"
            )
        if newest < before_backup:
            problems.append(
                f"{canary.table}: newest restored row is {newest}, but rows up to "
                f"{before_backup} were acknowledged before the backup began"
            )
        return problems

    def _chart(
        self,
        number: int,
        *,
        origin: float,
        backup: ScriptResult,
        restore: ScriptResult,
        destroyed: float,
        ready: float | None,
        restored_seq: int | None,
    ) -> dict[str, Any]:
        acks = sorted(self.writer.acked.values())
        drill_acks = [t for t in acks if t >= origin]
        writes = Lane(
            "canary writes",
            (Span(drill_acks[0] - origin, drill_acks[-1] - origin, "acknowledged", "ok"),)
            if drill_acks
            else (),
        )
        rpo_from = self.writer.acked.get(restored_seq) if restored_seq is not None else None
        windows = [
            Span(
                destroyed - origin,
                (ready or restore.ended) - origin,
                "RTO" if ready else "RTO: never ready",
                "bad",
            ),
        ]
        if rpo_from is not None:
            windows.insert(0, Span(rpo_from - origin, destroyed - origin, "RPO", "neutral"))
        return timeline_payload(
            f"restore drill {number}: writes lost (RPO) and time to ready with data (RTO)",
            [
                writes,
                script_lane("backup script", backup.events, origin),
                script_lane("restore script", restore.events, origin),
                Lane("RPO · RTO", tuple(windows)),
                marks_lane("destroyed", {"destroyed": destroyed}, origin),
            ],
        )

    def series(self) -> DrillSeries:
        baseline = self.backup()
        if baseline.exit_code != 0:
            failure = f"the baseline backup failed: {baseline.describe()}"
            return DrillSeries((), self.policy.drills, failure)
        outcomes: list[DrillOutcome] = []
        try:
            for number in range(1, self.policy.drills + 1):
                self.writer.start()
                outcome = self.one(number)
                outcomes.append(outcome)
                if outcome.failure or outcome.data_problems:
                    break
        finally:
            self.writer.stop()
        return DrillSeries(tuple(outcomes), self.policy.drills)


def run_drills(stack: Stack) -> DrillSeries:
    drill = RestoreDrill(stack, stack.profile.policy.backup)
    return drill.series()
