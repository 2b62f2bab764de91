from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recordings_portal.audit.exports import FORMATS, ExportSpec, manifest_path, write_export
from recordings_portal.audit.forms import FilterForm
from recordings_portal.audit.log import record

# Command-line option -> filter form field.
FILTER_OPTIONS = {
    "since": "since",
    "until": "until",
    "actor": "actor",
    "action": "action",
    "outcome": "outcome",
    "recording": "recording",
    "vendor_account": "vendor_account",
    "from_id": "from_id",
    "to_id": "to_id",
}


class Command(BaseCommand):
    help = (
        "Export the access log (or the part the filters select) to FILE, with its manifest in "
        "FILE.manifest.json: the range, the count, the first and last hashes and the file's "
        "sha256. Streams: memory stays flat however many events. Check the file with "
        "`manage.py verify_access_log --file FILE` or, without the portal, "
        "`python -m recordings_portal.audit.verify_file FILE`."
    )

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", required=True, type=Path, metavar="FILE")
        parser.add_argument("--format", choices=sorted(FORMATS), default="jsonl")
        parser.add_argument("--since", help="Events at or after (ISO 8601 date or time).")
        parser.add_argument("--until", help="Events before (ISO 8601 date or time).")
        parser.add_argument("--actor", help="A username.")
        parser.add_argument("--action", help='An action, or a prefix ending in "*".')
        parser.add_argument("--outcome", help="success, denied or failure.")
        parser.add_argument("--recording", type=int, help="A recording's id.")
        parser.add_argument("--vendor-account", type=int, help="A vendor account's id.")
        parser.add_argument("--from-id", type=int, help="The first event id.")
        parser.add_argument("--to-id", type=int, help="The last event id.")

    def handle(self, *args, output: Path, format: str, **options):
        data = {
            field: options[option]
            for option, field in FILTER_OPTIONS.items()
            if options.get(option) not in (None, "")
        }
        form = FilterForm(data)
        if not form.is_valid():
            raise CommandError(f"Check the filters: {form.error_text}")
        if not output.parent.is_dir():
            raise CommandError(f"No folder {output.parent} to write to.")
        spec = ExportSpec.pinned(form.filters(), format)
        record(
            "audit.export",
            details={
                "part": "file",
                "format": format,
                "filters": spec.filters.describe(),
                "contiguous": spec.filters.contiguous,
                "through": spec.through,
                "count": spec.count(),
                "via": "export_access_log",
                "file": output.name,
            },
        )
        manifest = write_export(spec, output, created_by="export_access_log")
        first, last = manifest["range"]["first_id"], manifest["range"]["last_id"]
        span = f"events #{first} to #{last}" if manifest["count"] else "no events"
        kind = "a contiguous piece of the chain" if manifest["contiguous"] else "filtered"
        self.stdout.write(f"Wrote {manifest['count']} events ({span}; {kind}) to {output}")
        self.stdout.write(f"sha256 {manifest['sha256']}")
        self.stdout.write(f"Manifest: {manifest_path(output)}")
