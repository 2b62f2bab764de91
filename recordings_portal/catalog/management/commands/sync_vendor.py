import heapq
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from recordings_portal.catalog.models import SyncRun, SyncState
from recordings_portal.catalog.services.download import RetryLater, recording_download
from recordings_portal.catalog.services.sync import (
    SyncRetry,
    active_sync,
    sync_cancel,
    sync_step,
)
from recordings_portal.vendors.connectors.registry import supports
from recordings_portal.vendors.kinds import DISCOVER
from recordings_portal.vendors.models import VendorAccount
from recordings_portal.vendors.services import QueueUnavailable, account_sync_start

BAR_WIDTH = 30


def progress_line(run: SyncRun) -> str:
    counts = f"page {run.pages} · {run.seen} seen · {run.new} new · {run.updated} updated"
    percent = run.progress_percent
    if percent is None:
        return counts
    filled = BAR_WIDTH * percent // 100
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d}% {counts}"


class Command(BaseCommand):
    help = (
        "Queue a sync of a vendor account (or of every enabled one) for the workers; with "
        "--wait, run it here instead, downloading what it finds, and exit non-zero if it fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="The account's name.")
        parser.add_argument(
            "--all", action="store_true", dest="every", help="Every enabled account."
        )
        parser.add_argument("--wait", action="store_true", help="Run the sync in this process.")
        parser.add_argument(
            "--no-download", action="store_true", help="With --wait: only update the catalog."
        )

    def handle(self, *args, name=None, every=False, wait=False, no_download=False, **options):
        if bool(name) == every:
            raise CommandError("Name one account, or give --all.")
        if every:
            accounts = [a for a in VendorAccount.objects.filter(enabled=True) if self._syncable(a)]
        else:
            account = VendorAccount.objects.filter(name=name).first()
            if account is None:
                known = ", ".join(VendorAccount.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f"No vendor account is named {name!r} (accounts: {known}).")
            if not self._syncable(account):
                raise CommandError(
                    f"{account.kind_label} does not list its recordings: there is nothing to sync."
                )
            accounts = [account]
        failures = []
        for account in accounts:
            run, busy = self._request(account, enqueue=not wait)
            if run is None:
                if not (busy and every):  # with --all, a sync under way is as good as a new one
                    failures.append(account.name)
                continue
            if not wait:
                self.stdout.write(f"Queued sync {run.pk} of {account.name}.")
                continue
            error = self._run(run, download=not no_download)
            if error:
                failures.append(account.name)
                self.stderr.write(self.style.ERROR(f"Sync of {account.name} failed: {error}"))
        if failures:
            raise CommandError(f"Not synced: {', '.join(failures)}.")

    def _syncable(self, account) -> bool:
        if supports(account.kind, DISCOVER):
            return True
        self.stdout.write(f"Skipping {account.name}: {account.kind_label} has no listing to sync.")
        return False

    def _request(self, account, *, enqueue: bool) -> tuple[SyncRun | None, bool]:
        """The new run, or None and whether that is because a sync is already under way."""
        try:
            run = account_sync_start(account, trigger="command", enqueue=enqueue)
        except QueueUnavailable as exc:
            self.stderr.write(f"{account.name}: {exc} (--wait syncs without the queue.)")
            return None, False
        if run is not None:
            return run, False
        active = active_sync(account)
        when = timezone.localtime(active.started_at or active.created_at) if active else None
        since = f" since {when:%Y-%m-%d %H:%M:%S}" if when else ""
        self.stderr.write(f"A sync of {account.name} is already queued or running{since}.")
        return None, True

    def _run(self, run: SyncRun, *, download: bool) -> str:
        """Run every step here; the first error when the sync failed, else ''."""
        name = run.account.name
        self.stdout.write(f"Syncing {name}…")
        downloads = Downloads(self)
        try:
            while True:
                try:
                    step = sync_step(run.pk, download=download)
                except SyncRetry as exc:
                    self.stdout.write(f"  {exc} — trying again in {exc.countdown:.0f} s")
                    time.sleep(exc.countdown)
                    continue
                run.refresh_from_db()
                if run.state != SyncState.FAILED:
                    self._progress(run, final=not step.more)
                downloads.run(step.new_ids)
                if not step.more:
                    break
            downloads.finish()
        except KeyboardInterrupt:
            sync_cancel(run)
            raise CommandError(f"Interrupted: the sync of {name} was cancelled.") from None
        run.refresh_from_db()
        if run.state != SyncState.SUCCEEDED:
            return run.errors[-1]["message"] if run.errors else f"it ended {run.state}"
        summary = f"{name}: {run.seen} seen, {run.new} new, {run.updated} updated"
        if download:
            summary += f"; {downloads.stored} downloaded, {downloads.failed} failed"
        self.stdout.write(self.style.SUCCESS(summary + "."))
        return ""

    def _progress(self, run: SyncRun, *, final: bool) -> None:
        line = progress_line(run)
        if self.stdout.isatty():
            # Redraw one line in a terminal; logs and pipes get one line per page.
            self.stdout.write(f"\r  {line}", ending="\n" if final else "")
            self.stdout.flush()
        else:
            self.stdout.write(f"  {line}")


class Downloads:
    """Downloads the sync's new recordings; ones worth retrying wait their turn, in order."""

    def __init__(self, command: Command):
        self.command = command
        self.stored = self.failed = 0
        self.later: list[tuple[float, int]] = []

    def run(self, ids: list[int]) -> None:
        for recording_id in ids:
            self._one(recording_id)
        now = time.monotonic()
        while self.later and self.later[0][0] <= now:
            self._one(heapq.heappop(self.later)[1])

    def finish(self) -> None:
        while self.later:
            due, recording_id = heapq.heappop(self.later)
            time.sleep(max(0.0, due - time.monotonic()))
            self._one(recording_id)

    def _one(self, recording_id: int) -> None:
        try:
            outcome = recording_download(recording_id)
        except RetryLater as exc:
            heapq.heappush(self.later, (time.monotonic() + exc.countdown, recording_id))
            return
        if outcome.status == "stored":
            self.stored += 1
        elif outcome.status == "failed":
            self.failed += 1
            self.command.stderr.write(f"  recording {recording_id}: {outcome.message}")
