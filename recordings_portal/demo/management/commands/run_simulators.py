import signal
import threading

from django.core.management.base import BaseCommand, CommandError


def vendor_counts(values: list[str]) -> dict[str, int]:
    counts = {}
    for value in values:
        vendor, _, count = value.partition("=")
        if not count.isdigit():
            raise CommandError(f"--recordings-for takes VENDOR=N, not {value!r}")
        counts[vendor] = int(count)
    return counts


class Command(BaseCommand):
    help = "Serve the five simulated vendor APIs over HTTP (for the demo, tests and benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--recordings", type=int, default=40, help="Calls per vendor.")
        parser.add_argument(
            "--recordings-for",
            action="append",
            default=[],
            metavar="VENDOR=N",
            help="Override the count for one vendor, e.g. audian=100000 for the ingest benchmark.",
        )
        parser.add_argument(
            "--warm",
            action="store_true",
            help="Encode every call's audio in the background right after starting.",
        )

    def handle(self, *args, host, port, seed, recordings, recordings_for, warm, **options):
        from recordings_portal.simulators.server import SimulatorServer

        counts = {
            **dict.fromkeys(("kaleyra", "koreai", "flyflow", "audian", "iotcomms"), recordings)
        }
        counts.update(vendor_counts(recordings_for))
        try:
            server = SimulatorServer(host, port, seed=seed, recordings=counts)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc.strerror}") from exc
        self.stdout.write(f"Vendor simulators on {server.url} (seed {seed}):")
        for name, vendor in server.vendors.items():
            self.stdout.write(f"  {name:9} {server.url}{vendor.credentials()['path']}")
        if warm:
            threading.Thread(target=server.warm_audio, daemon=True).start()
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
