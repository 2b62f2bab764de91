"""The access log: appends under concurrency, verification, export.

4 processes append 100,000 events between them through audit.log.record() on PostgreSQL; then
the chain must verify with exactly 100,000 more events than before (none lost, none forked).
Next to it, in the same run: the same rows inserted per row (one INSERT, one transaction each,
through the same ORM save) from 4 processes into a copy of the table without the chain.
Then verify() over the whole chain, next to the previous verify (model instances), and a
JSON Lines export of it.

    .venv/bin/python bench/bench_audit.py [--events 100000] [--processes 4] [--keep]

Uses its own database (BENCH_AUDIT_DATABASE_URL, default .../portal_bench_audit), emptied of
access events first unless --keep.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
import uuid

from common import machine, setup_django, stamp, timed

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/portal_bench_audit"
PLAIN_TABLE = "bench_plain_accessevent"


def _details(worker: int, n: int) -> dict:
    return {"bench": worker, "n": n, "range": "bytes=0-"}


def chained_worker(worker: int, count: int, actor_id: int, barrier, results) -> None:
    from django.contrib.auth.models import User
    from django.db import connection

    from recordings_portal.audit.log import record

    actor = User.objects.get(pk=actor_id)
    connection.ensure_connection()
    barrier.wait()
    latencies = []
    for n in range(count):
        start = time.perf_counter()
        record(
            "recording.play",
            actor=actor,
            object_type="catalog.recording",
            object_id=n,
            details=_details(worker, n),
        )
        latencies.append(time.perf_counter() - start)
    results.put(latencies)


def plain_worker(worker: int, count: int, actor_id: int, barrier, results) -> None:
    """The same rows through the same ORM insert, one transaction each, without the chain:
    no lock, no reading the tip, no hashing (prev_hash and hash are just unique strings)."""
    from django.db import connection
    from django.utils import timezone

    from recordings_portal.audit.models import AccessEvent

    AccessEvent._meta.db_table = PLAIN_TABLE  # this process only
    connection.ensure_connection()
    barrier.wait()
    latencies = []
    for n in range(count):
        start = time.perf_counter()
        AccessEvent(
            at=timezone.now(),
            actor_id=actor_id,
            actor_username="bench",
            action="recording.play",
            object_type="catalog.recording",
            object_id=str(n),
            details=_details(worker, n),
            prev_hash="",
            hash=uuid.uuid4().hex * 2,
        ).save(force_insert=True)
        latencies.append(time.perf_counter() - start)
    results.put(latencies)


def run_workers(target, processes: int, total: int, actor_id: int) -> tuple[float, list[float]]:
    """Start the workers, release them together, return (wall seconds, every latency)."""
    from django.db import connections

    connections.close_all()  # children must not share the parent's connection
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(processes + 1), context.Queue()
    shares = [total // processes + (1 if w < total % processes else 0) for w in range(processes)]
    workers = [
        context.Process(target=target, args=(w, shares[w], actor_id, barrier, results))
        for w in range(processes)
    ]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    latencies = []
    for _ in workers:
        latencies.extend(results.get())
    seconds = time.perf_counter() - start
    for worker in workers:
        worker.join()
        if worker.exitcode:
            raise SystemExit(f"a worker failed (exit status {worker.exitcode})")
    return seconds, latencies


def latency_text(latencies: list[float]) -> str:
    cuts = statistics.quantiles(latencies, n=100)
    return f"p50 {cuts[49] * 1000:.2f} ms, p99 {cuts[98] * 1000:.2f} ms"


def verify_with_instances():
    """verify() as it was before: model instances from a server-side cursor."""
    from recordings_portal.audit.log import canonical_content, chain_hash
    from recordings_portal.audit.models import GENESIS_HASH, AccessEvent

    expected, checked = GENESIS_HASH, 0
    for event in AccessEvent.objects.order_by("id").iterator(chunk_size=5000):
        if event.prev_hash != expected:
            return False, checked
        if chain_hash(event.prev_hash, canonical_content(event)) != event.hash:
            return False, checked
        expected, checked = event.hash, checked + 1
    return True, checked


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="Keep the events already there.")
    args = parser.parse_args()
    database = setup_django(os.environ.get("BENCH_AUDIT_DATABASE_URL", DEFAULT_DB))

    from django.contrib.auth.models import User
    from django.db import connection

    from recordings_portal.audit.exports import ExportSpec, ExportStream
    from recordings_portal.audit.log import verify
    from recordings_portal.audit.models import AccessEvent
    from recordings_portal.audit.selectors import Filters

    if connection.vendor != "postgresql":
        raise SystemExit("The access log benchmark needs PostgreSQL (its lock and trigger).")
    print(f"Access log benchmark — {stamp()} — {machine()}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute("SHOW synchronous_commit")
        sync_commit = cursor.fetchone()[0]
        if not args.keep:
            # TRUNCATE is not UPDATE or DELETE: the append-only trigger lets the benchmark's
            # own database start empty.
            cursor.execute("TRUNCATE audit_accessevent")
        cursor.execute(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        cursor.execute(
            f"CREATE TABLE {PLAIN_TABLE} (LIKE audit_accessevent INCLUDING ALL); "
            f"ALTER TABLE {PLAIN_TABLE} ADD FOREIGN KEY (actor_id) REFERENCES auth_user (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )
    print(f"database: {version}, synchronous_commit={sync_commit} ({database.rsplit('@', 1)[-1]})")
    actor = User.objects.get_or_create(username="bench-supervisor")[0]
    before = AccessEvent.objects.count()
    processes, total = args.processes, args.events

    seconds, latencies = run_workers(chained_worker, processes, total, actor.pk)
    chained_rate = total / seconds
    print(
        f"chained appends (record()):   {total:>7} events from {processes} processes "
        f"in {seconds:6.2f} s = {chained_rate:7.0f} events/s  ({latency_text(latencies)})"
    )
    seconds, latencies = run_workers(plain_worker, processes, total, actor.pk)
    plain_rate = total / seconds
    print(
        f"plain per-row INSERT:         {total:>7} rows   from {processes} processes "
        f"in {seconds:6.2f} s = {plain_rate:7.0f} rows/s    ({latency_text(latencies)})"
    )
    print(f"the chain costs {plain_rate / chained_rate:.2f}x the plain insert (target: <= 2x)")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {PLAIN_TABLE}")

    after = AccessEvent.objects.count()
    with timed() as took:
        result = verify()
    verify_rate = result.checked / took["seconds"]
    lost = before + total - after
    print(
        f"verify():                     {result.checked:>7} events in {took['seconds']:6.2f} s "
        f"= {verify_rate:7.0f} events/s (target: >= 100,000)"
    )
    print(
        f"  {result}  count {after} = {before} before + {total} appended"
        f" ({'none lost' if lost == 0 else f'{lost} LOST'})"
    )
    with timed() as took:
        intact, checked = verify_with_instances()
    print(
        f"previous verify (instances):  {checked:>7} events in {took['seconds']:6.2f} s "
        f"= {checked / took['seconds']:7.0f} events/s"
    )
    stream = ExportStream(ExportSpec.pinned(Filters(), "jsonl"))
    with timed() as took:
        for _ in stream:
            pass
    print(
        f"JSON Lines export (streamed): {stream.count:>7} events in {took['seconds']:6.2f} s "
        f"= {stream.count / took['seconds']:7.0f} events/s, {stream.size / 1e6:.1f} MB"
    )
    if not result.intact or lost or not intact:
        raise SystemExit("The chain did not hold.")


if __name__ == "__main__":
    main()
