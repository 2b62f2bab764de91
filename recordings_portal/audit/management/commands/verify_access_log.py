from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recordings_portal.audit.exports import compare_with_database, manifest_path
from recordings_portal.audit.log import record_verification, verify
from recordings_portal.audit.verify_file import FormatError, load_manifest, verify_file


class Command(BaseCommand):
    help = (
        "Verify the access log's hash chain in the database, or an exported file (--file) from "
        "the file alone. Exits with status 1 when something does not hold, naming the event."
    )

    def add_arguments(self, parser):
        parser.add_argument("--file", type=Path, help="An export to check instead.")
        parser.add_argument(
            "--manifest", type=Path, help="The export's manifest (default: FILE.manifest.json)."
        )
        parser.add_argument(
            "--against-database",
            action="store_true",
            help="With --file: also check that every line's hash is the one stored for its "
            "event, and the database's chain (the way to check a filtered export).",
        )

    def handle(self, *args, file=None, manifest=None, against_database=False, **options):
        if file is None:
            if manifest or against_database:
                raise CommandError("--manifest and --against-database go with --file.")
            self._verify_database()
        else:
            self._verify_file(file, manifest, against_database)

    def _verify_database(self):
        result = verify()
        record_verification(result, via="verify_access_log")
        if not result.intact:
            raise CommandError(str(result))
        self.stdout.write(str(result))

    def _verify_file(self, path: Path, manifest_file: Path | None, against_database: bool):
        if not path.is_file():
            raise CommandError(f"No file at {path}.")
        manifest_file = manifest_file or manifest_path(path)
        try:
            manifest = load_manifest(manifest_file) if manifest_file.exists() else None
        except FormatError as exc:
            raise CommandError(str(exc)) from None
        result = verify_file(path, manifest)
        if not result.intact:
            raise CommandError(str(result))
        self.stdout.write(str(result))
        if against_database:
            file_format = (manifest or {}).get("format") or (
                "csv" if path.suffix.lower() == ".csv" else "jsonl"
            )
            problem = compare_with_database(path, file_format)
            if problem:
                raise CommandError(problem)
            chain = verify()
            if not chain.intact:
                raise CommandError(f"The database's chain: {chain}")
            self.stdout.write(
                f"Every line's hash is the one stored for its event, and the database's chain "
                f"is intact through event #{chain.last_good_id}."
            )
