from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recordings_portal.catalog.nginx import Site, http_config


class Command(BaseCommand):
    help = (
        "Print the nginx configuration for the portal's settings (MEDIA_ROOT, "
        "MEDIA_ACCEL_REDIRECT_PREFIX, MEDIA_AUTH_REQUEST_SECONDS): blocks to include in "
        "nginx's http block."
    )

    def add_arguments(self, parser):
        parser.add_argument("--upstream", default="unix:/run/recordings-portal/gunicorn.sock",
                            help="Where gunicorn listens (unix:PATH or HOST:PORT).")  # fmt: skip
        parser.add_argument("--listen", default="127.0.0.1:8080", help="nginx's listen address.")
        parser.add_argument("--cache-dir", type=Path, default=Site.cache_dir,
                            help="Where nginx keeps media authorisations.")  # fmt: skip

    def handle(self, *args, upstream: str, listen: str, cache_dir: Path, **options):
        try:
            config = http_config(Site(upstream=upstream, listen=listen, cache_dir=cache_dir))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(config)
