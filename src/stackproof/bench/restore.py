"""Restore at scale: throughput and RTO at about 10 MB, 100 MB and 1 GB of generated rows.

For each size, on one reference stack whose database grows from size to size:

- `raw`: `pg_restore` alone (the restore script's flags) of the same dump into an empty
  database of the same server — the floor any restore procedure stands on;
- `drill`: the real thing — the database destroyed (killed, wiped), `ops restore` run, RTO =
  destruction → every service ready again with the generated rows present;

both serial (`--jobs 1`) and with parallel jobs. Figures: MB/s, seconds, and the drill's
overhead over raw pg_restore (objective: under 10 % at 1 GB), plus RTO per MB from size to
size (objective: no worse than linear). Reported, never asserted. Dumps are removed after.

Sizes: `STACKPROOF_BENCH_RESTORE_MB` (default "10,100,1000"); each figure is the median of
`STACKPROOF_BENCH_RESTORE_REPEAT` runs (default 3). Two overheads are reported: the drill's
(RTO - raw pg_restore: provisioning, checks, services restarted and ready) and the restore
script's own (its total - its pg_restore step).
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from stackproof.backends.process import ProcessBackend, ProcessStack
from stackproof.checks.health import dependants, health_endpoint
from stackproof.drills.scripts import OpsScripts
from stackproof.profile import load_profile
from stackproof.readiness import AllOf, Check, HttpStatus, wait_for
from stackproof.run import RunContext, new_run_id

TABLES = 4  # several tables, so parallel restore jobs have work to share
INSERT_ROWS = (  # ~170 bytes a row, half of it random: compresses like real text, not like zeros
    "INSERT INTO bench.{} SELECT g, md5(g::text) || md5(random()::text) || "
    "md5(random()::text) || md5(random()::text) FROM generate_series(%s::bigint, %s::bigint) g"
)
OVERHEAD_OBJECTIVE = 0.10
OBJECTIVE_SIZE_MB = 1000
SCRIPT_TIMEOUT_S = 3 * 3600.0
MB = 1024 * 1024


def sizes_mb() -> list[int]:
    raw = os.environ.get("STACKPROOF_BENCH_RESTORE_MB", "10,100,1000")
    return [int(part) for part in raw.split(",") if part.strip()]


def repeats() -> int:
    """Each measure is the median of this many runs (the machine is shared: it is noisy)."""
    return max(1, int(os.environ.get("STACKPROOF_BENCH_RESTORE_REPEAT", "3")))


def jobs_to_try() -> list[int]:
    return [1, max(2, min(4, os.cpu_count() or 1))]


def database_bytes(admin: str) -> int:
    with psycopg.connect(admin, autocommit=True) as connection:
        row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


GENERATED_BYTES = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'bench' AND c.relkind = 'r'
"""


def generated_bytes(connection: psycopg.Connection[Any]) -> int:
    row = connection.execute(GENERATED_BYTES).fetchone()
    return int(row[0]) if row else 0


def grow(admin: str, owner: str, target_bytes: int) -> int:
    """Add generated rows (owned by the app's role, so its backups see them) until the
    generated tables with their indexes reach `target_bytes`; returns their size."""
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner)))
        connection.execute("CREATE SCHEMA IF NOT EXISTS bench")
        for index in range(TABLES):
            connection.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS bench.{} (id bigint PRIMARY KEY, payload text)"
                ).format(sql.Identifier(f"ballast_{index}"))
            )
        while (size := generated_bytes(connection)) < target_bytes:
            # ~250 bytes a row with its index entry; aim at the target, in steps of at most
            # 400k rows a table so no single statement runs for minutes.
            batch = max(1_000, min(400_000, (target_bytes - size) // (TABLES * 250)))
            for index in range(TABLES):
                table = sql.Identifier(f"ballast_{index}")
                start = connection.execute(
                    sql.SQL("SELECT coalesce(max(id), 0) FROM bench.{}").format(table)
                ).fetchone()
                assert start is not None
                connection.execute(
                    sql.SQL(INSERT_ROWS).format(table), (start[0] + 1, start[0] + batch)
                )
        return size


def newest_ids(admin: str) -> tuple[int, ...]:
    """The highest id of each generated table: ids are contiguous, so equal highest ids mean
    every row is back — an index lookup, where count(*) would scan a gigabyte per look."""
    with psycopg.connect(admin, autocommit=True, connect_timeout=2) as connection:
        found = []
        for index in range(TABLES):
            row = connection.execute(
                sql.SQL("SELECT coalesce(max(id), 0) FROM bench.{}").format(
                    sql.Identifier(f"ballast_{index}")
                )
            ).fetchone()
            found.append(int(row[0]) if row else 0)
        return tuple(found)


class RowsBack:
    def __init__(self, stack: ProcessStack, database: str, ids: tuple[int, ...]) -> None:
        self.stack, self.database, self.ids = stack, database, ids
        self.description = f"the generated rows back (highest ids {ids})"

    def check(self) -> Check:
        try:
            found = newest_ids(self.stack.service(self.database).admin_url())
        except psycopg.Error as error:
            return Check(False, type(error).__name__)
        return Check(found == self.ids, f"highest ids {found}")


def raw_restore(stack: ProcessStack, dump: Path, jobs: int, owner_url: str) -> float:
    """pg_restore alone into a new empty database of the same server; seconds."""
    admin = stack.service("postgres").admin_url()
    target = "bench_raw"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(target)))
        connection.execute(sql.SQL("CREATE DATABASE {} OWNER stack").format(sql.Identifier(target)))
    url = owner_url.rsplit("/", 1)[0] + f"/{target}"
    started = time.monotonic()
    done = stack.service("postgres").exec(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            f"--jobs={jobs}",
            f"--dbname={url}",
            str(dump),
        ],
        timeout_s=SCRIPT_TIMEOUT_S,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"raw pg_restore failed: {done.stderr[-500:]}")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(target)))
    return seconds


def drill_restore(
    stack: ProcessStack, scripts: OpsScripts, dump: Path, jobs: int, ids: tuple[int, ...]
) -> dict[str, float]:
    database = "postgres"
    condition = AllOf(
        (
            *(
                HttpStatus(health_endpoint(stack, name, "readiness").url, verify=False)
                for name in dependants(stack, database)
            ),
            RowsBack(stack, database, ids),
        )
    )
    destroyed = time.monotonic()
    stack.service(database).destroy()
    running = scripts.start("restore", str(dump), "--jobs", str(jobs))
    wait_for(
        condition,
        timeout_s=SCRIPT_TIMEOUT_S,
        what="restored and ready",
        interval_s=0.05,
        give_up=lambda: (
            None
            if not running.exited() or condition.check().ok
            else f"restore ended: {running.wait(1).output[-400:]}"
        ),
    )
    rto = time.monotonic() - destroyed
    result = running.wait(600)
    if result.exit_code != 0:
        raise RuntimeError(f"restore failed: {result.describe()}")
    restored = result.event("restored_data") or {}
    steps = {e["event"]: e["t"] for e in result.events if "t" in e}
    return {
        "rto_s": round(rto, 3),
        "script_s": round(result.seconds, 3),
        "script_pg_restore_s": float(restored.get("seconds", 0.0)),
        # where the restore's fixed cost goes (seconds)
        "database_up_s": round(steps.get("database_up", 0.0) - steps.get("start", 0.0), 3),
        "services_back_s": round(steps.get("done", 0.0) - steps.get("migrations_ok", 0.0), 3),
    }


def measure(stack: ProcessStack, target_mb: int, owner_url: str) -> dict[str, Any]:
    admin = stack.service("postgres").admin_url()
    size = grow(admin, "stack", target_mb * MB)
    database = database_bytes(admin)
    ids = newest_ids(admin)
    rows = sum(ids)
    scripts = OpsScripts(stack)
    backup = scripts.run("backup", "--no-retention", timeout_s=SCRIPT_TIMEOUT_S)
    if backup.exit_code != 0:
        raise RuntimeError(f"backup failed: {backup.describe()}")
    written = backup.event("written") or {}
    dump = Path(str(written["file"]))
    entry: dict[str, Any] = {
        "target_mb": target_mb,
        "generated_mb": round(size / MB, 1),
        "database_mb": round(database / MB, 1),
        "rows": rows,
        "dump_mb": round(dump.stat().st_size / MB, 1),
        "backup_s": round(backup.seconds, 3),
        "runs": [],
    }
    for jobs in jobs_to_try():
        raws, drills = [], []
        for _ in range(repeats()):
            raws.append(raw_restore(stack, dump, jobs, owner_url))
            drills.append(drill_restore(stack, scripts, dump, jobs, ids))
        raw = statistics.median(raws)
        rto = statistics.median(d["rto_s"] for d in drills)
        script = statistics.median(d["script_s"] for d in drills)
        script_restore = statistics.median(d["script_pg_restore_s"] for d in drills)
        fixed = {
            key: round(statistics.median(d[key] for d in drills), 3)
            for key in ("database_up_s", "services_back_s")
        }
        entry["runs"].append(
            {
                "jobs": jobs,
                **fixed,
                "raw_pg_restore_s": round(raw, 3),
                "rto_s": round(rto, 3),
                "script_s": round(script, 3),
                "script_pg_restore_s": round(script_restore, 3),
                "raw_mb_per_s": round(size / MB / raw, 1),
                "rto_mb_per_s": round(size / MB / rto, 1),
                "overhead": round((rto - raw) / raw, 4),
                "script_overhead": round((script - script_restore) / script_restore, 4),
                "measurement_s": round(rto - script, 3),
                "samples": {"raw_s": [round(r, 3) for r in raws], "drills": drills},
            }
        )
        print(
            f"   {target_mb} MB jobs={jobs}: raw {raw:.1f} s, RTO {rto:.1f} s "
            f"(medians of {repeats()})",
            flush=True,
        )
    for stale in dump.parent.glob("*.dump"):
        stale.unlink()
    return entry


def linearity(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """RTO growth from size to size against size growth (<= 1: no worse than linear)."""
    found = []
    for before, after in itertools.pairwise(entries):
        for jobs in jobs_to_try():
            rto = {
                e["target_mb"]: r["rto_s"]
                for e in (before, after)
                for r in e["runs"]
                if r["jobs"] == jobs
            }
            growth = after["generated_mb"] / before["generated_mb"]
            rto_growth = rto[after["target_mb"]] / rto[before["target_mb"]]
            found.append(
                {
                    "from_mb": before["generated_mb"],
                    "to_mb": after["generated_mb"],
                    "jobs": jobs,
                    "size_growth": round(growth, 2),
                    "rto_growth": round(rto_growth, 2),
                    "no_worse_than_linear": rto_growth <= growth,
                }
            )
    return found


def write_markdown(document: dict[str, Any], path: Path) -> None:
    lines = [
        "# Restore at scale",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average "
        f"{document['load_average']} at the start; PostgreSQL 18 on "
        "the process backend. RTO = database destroyed → every service ready with the rows "
        "back (ops restore: provision, pg_restore, migrations check, services started).",
        "",
        "| generated rows / database / dump | jobs | raw pg_restore | drill RTO | RTO overhead "
        "| script's own overhead | raw MB/s | RTO MB/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in document["sizes"]:
        for run in entry["runs"]:
            lines.append(
                f"| {entry['generated_mb']} / {entry['database_mb']} / {entry['dump_mb']} MB "
                f"| {run['jobs']} "
                f"| {run['raw_pg_restore_s']:.1f} s | {run['rto_s']:.1f} s "
                f"| {100 * run['overhead']:.1f} % | {100 * run['script_overhead']:.1f} % "
                f"| {run['raw_mb_per_s']} | {run['rto_mb_per_s']} |"
            )
    lines += [
        "",
        "Where the fixed cost goes (medians): the database provisioned afresh and checked "
        "empty; the services started and ready after the migrations check; the harness's "
        "own measurement (RTO minus the restore script's run time: destroying, starting "
        "the script, seeing the rows back).",
        "",
        "| size | jobs | database up | services back | measurement |",
        "| --- | --- | --- | --- | --- |",
    ]
    for entry in document["sizes"]:
        for run in entry["runs"]:
            lines.append(
                f"| {entry['generated_mb']} MB | {run['jobs']} | {run['database_up_s']:.2f} s "
                f"| {run['services_back_s']:.2f} s | {run['measurement_s']:.2f} s |"
            )
    lines += ["", "RTO growth against size growth (no worse than linear when RTO grows less):", ""]
    for item in document["linearity"]:
        lines.append(
            f"- {item['from_mb']} → {item['to_mb']} MB, jobs={item['jobs']}: size x"
            f"{item['size_growth']}, RTO x{item['rto_growth']} "
            f"({'ok' if item['no_worse_than_linear'] else 'WORSE than linear'})"
        )
    figures = document["figures"]
    lines += [
        "",
        f"At {figures['judged_size_mb']} MB, worst over the job counts (objective: under "
        f"{100 * OVERHEAD_OBJECTIVE:.0f} %): the drill's RTO is "
        f"{100 * figures['overhead']:.1f} % over raw pg_restore (best job count "
        f"{100 * figures['overhead_best_jobs']:.1f} %); the restore script's own work "
        f"{100 * figures['script_overhead']:.1f} % over its pg_restore step; the harness's "
        f"measurement {100 * figures['measurement_overhead']:.1f} % of the RTO. "
        f"Medians of {document['repeats']} runs each.",
    ]
    path.write_text("\n".join(lines) + "\n", "utf-8")


def run(root: Path, out: Path) -> dict[str, Any]:
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    profile = load_profile(root / "profiles" / "reference.toml")
    backend = ProcessBackend()
    backend.check(profile)
    entries = []
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-") as reports:
        context = RunContext(new_run_id(), Path(reports) / "run")
        with backend.up(profile, context, "main") as stack:
            assert isinstance(stack, ProcessStack)
            postgres = stack.service("postgres").service
            owner_url = postgres.link_facts(postgres.context.endpoint())["url"]
            for target in sizes_mb():
                print(f"== restore bench: {target} MB", flush=True)
                entries.append(measure(stack, target, owner_url))
    judged = next((e for e in entries if e["target_mb"] == OBJECTIVE_SIZE_MB), entries[-1])
    runs: list[dict[str, Any]] = judged["runs"]
    document: dict[str, Any] = {
        "bench": "restore",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "load_average": load_before,
        "repeats": repeats(),
        "objectives": {
            "overhead_at_mb": OBJECTIVE_SIZE_MB,
            "overhead": OVERHEAD_OBJECTIVE,
            "rto_growth": "<= size growth",
        },
        "sizes": entries,
        "linearity": linearity(entries),
        "figures": {
            "judged_size_mb": judged["generated_mb"],
            "overhead": max(float(r["overhead"]) for r in runs),
            "overhead_best_jobs": min(float(r["overhead"]) for r in runs),
            "script_overhead": max(float(r["script_overhead"]) for r in runs),
            "measurement_overhead": max(float(r["measurement_s"]) / r["rto_s"] for r in runs),
            "rto_s": {r["jobs"]: r["rto_s"] for r in runs},
            "overhead_by_size": {
                e["target_mb"]: {r["jobs"]: r["overhead"] for r in e["runs"]} for e in entries
            },
        },
    }
    figures = document["figures"]
    document["meets"] = {
        "overhead": figures["overhead"] < OVERHEAD_OBJECTIVE,
        "script_overhead": figures["script_overhead"] < OVERHEAD_OBJECTIVE,
        "measurement_overhead": figures["measurement_overhead"] < OVERHEAD_OBJECTIVE,
        "linear": all(item["no_worse_than_linear"] for item in document["linearity"]),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "restore.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    write_markdown(document, out / "restore.md")
    return document
