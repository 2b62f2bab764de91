"""Catalog ingest: 100,000 Audian recordings synced (metadata only) through the real sync service.

Prints rows per second next to a naive baseline measured in the same run: the same pages from
the same simulator, stored with one update_or_create per row. The baseline runs on a prefix of
the catalog (--naive-rows) because at its speed the whole catalog would take minutes; rates
are per row, so the ratio is fair.

    .venv/bin/python bench/bench_ingest.py [--rows 100000] [--naive-rows 10000]
"""

from __future__ import annotations

import argparse

from common import machine, setup_django, stamp, timed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-rows", type=int, default=10_000)
    args = parser.parse_args()
    database = setup_django()

    from django.db import connection

    from recordings_portal.catalog.models import Recording, SyncRun
    from recordings_portal.catalog.services.sync import sync_request, sync_step
    from recordings_portal.catalog.services.upsert import _values
    from recordings_portal.simulators.testing import running_simulators
    from recordings_portal.vendors.connectors.registry import connector_for
    from recordings_portal.vendors.models import VendorAccount
    from recordings_portal.vendors.services import account_create

    def fresh_account(simulators, name):
        Recording.objects.filter(account__name=name).delete()
        SyncRun.objects.filter(account__name=name).delete()
        VendorAccount.objects.filter(name=name).delete()
        offered = simulators.vendors["audian"].credentials()
        return account_create(
            name=name,
            kind="audian",
            base_url=simulators.url + offered["path"],
            config=offered["config"],
            secrets=offered["secrets"],
        )

    print(f"Catalog ingest benchmark — {stamp()} — {machine()}")
    print(f"database: {connection.vendor} ({database.rsplit('@', 1)[-1]})")
    with running_simulators(seed=3, recordings={"audian": args.rows}, vendors=["audian"]) as sims:
        with timed() as warm:
            sims.vendors["audian"].audio_specs()
            for spec in set(sims.vendors["audian"].audio_specs()):
                sims.audio.get(spec)
        print(f"simulator ready ({warm['seconds']:.1f} s to load or encode its audio pool)")

        account = fresh_account(sims, "bench ingest")
        run = sync_request(account)
        with timed() as ours:
            while sync_step(run.id, download=False).more:
                pass
        run.refresh_from_db()
        stored = Recording.objects.filter(account=account).count()
        ours_rate = stored / ours["seconds"]
        print(
            f"portal sync:    {stored:>7} rows in {ours['seconds']:6.2f} s "
            f"= {ours_rate:8.0f} rows/s"
            f"  ({run.pages} pages, state {run.state})"
        )

        naive_account = fresh_account(sims, "bench naive")
        connector = connector_for(naive_account)
        cursor, saved = dict(naive_account.sync_state), 0
        with timed() as naive:
            while saved < args.naive_rows:
                page = connector.discover(cursor)
                for remote in page.recordings:
                    Recording.objects.update_or_create(
                        account=naive_account,
                        external_id=remote.external_id,
                        defaults=_values(remote),
                    )
                    saved += 1
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        naive_rate = saved / naive["seconds"]
        print(
            f"naive per row:  {saved:>7} rows in {naive['seconds']:6.2f} s "
            f"= {naive_rate:8.0f} rows/s"
        )
        print(
            f"ratio: {ours_rate / naive_rate:.1f}x the naive baseline "
            "(target: >= 10x, >= 5000 rows/s)"
        )


if __name__ == "__main__":
    main()
