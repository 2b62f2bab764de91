import pytest

from recordings_portal.simulators.testing import SimulatorControl, running_simulators


@pytest.fixture(scope="session")
def simulator_server(tmp_path_factory):
    """All five vendor simulators on a free loopback port for the whole test session.

    Audio is cached in data/test-audio so later runs skip the encoding.
    """
    with running_simulators(seed=7, recordings=8) as server:
        yield server


@pytest.fixture
def simulators(simulator_server):
    """The running simulators, with every vendor's state, faults and clock fresh for each test."""
    simulator_server.clock.offset = 0.0
    for vendor in simulator_server.vendors.values():
        with vendor.lock:
            vendor.faults.reset()
            vendor.reset()
    yield simulator_server


@pytest.fixture
def simulator_control(simulators):
    return SimulatorControl(simulators.url)


# --- users and roles ---------------------------------------------------------------------
ROLE_NAMES = ("supervisor", "compliance", "admin", "auditor")
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def make_user(db):
    from django.contrib.auth.models import Group, User

    def make(username: str, *roles: str, **fields) -> User:
        user = User.objects.create_user(username=username, password=PASSWORD, **fields)
        user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make


@pytest.fixture
def users(make_user):
    """One user per role, keyed by role name."""
    return {role: make_user(f"{role}-user", role) for role in ROLE_NAMES}


@pytest.fixture
def client_for(client, users):
    """A test client logged in as the user of a role (or anonymous for None)."""

    def login(role: str | None):
        client.logout()
        if role is not None:
            client.force_login(users[role])
        return client

    return login


@pytest.fixture(scope="session")
def _session_media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def _test_settings(settings, _session_media_root):
    # Tests never write into the demo's media folder (`media_root` gives a test its own).
    settings.MEDIA_ROOT = _session_media_root
    # Hashing passwords at full strength costs a second per user; tests need none of it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The hashed manifest exists only after collectstatic; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# --- vendor accounts against the simulators ------------------------------------------------


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def vendor_account(db, simulators, settings, media_root):
    """make(kind) -> a VendorAccount pointing at that simulator, as the demo sets one up."""
    from recordings_portal.vendors.services import account_create

    settings.VENDOR_ALLOW_PRIVATE_NETWORKS = True

    def make(kind: str, name: str | None = None, **overrides):
        offered = simulators.vendors[kind].credentials()
        fields = {
            "name": name or f"Test {kind}",
            "kind": kind,
            "base_url": simulators.url + offered["path"],
            "config": offered["config"],
            "secrets": offered["secrets"],
            **overrides,
        }
        return account_create(**fields)

    return make


@pytest.fixture(scope="session", autouse=True)
def _separate_test_broker(tmp_path_factory):
    """Tests never share the demo's embedded broker folder; with REDIS_URL they use Redis."""
    from django.conf import settings

    from recordings_portal.celery import app

    if settings.REDIS_URL:
        return
    folder = tmp_path_factory.mktemp("broker")
    (folder / "queue").mkdir()
    (folder / "processed").mkdir()
    (folder / "control").mkdir()
    options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.05,  # the demo polls every second; tests wait for each hop
    }
    app.conf.broker_transport_options = options
    import os

    os.environ["CELERY_BROKER_FOLDER"] = str(folder)  # for worker processes the tests start
    os.environ["CELERY_POLLING_INTERVAL"] = "0.05"


@pytest.fixture
def celery_worker(transactional_db, media_root):
    """A real Celery worker on the configured broker, running in this process."""
    from tests.workers import thread_worker

    with thread_worker() as worker:
        yield worker


@pytest.fixture
def stored_recording(db, media_root):
    """make(**fields) -> an available Recording whose real audio and peaks are in storage.

    Audio options: format ("mp3", "wav", "opus"), channels, sample_rate, duration (seconds);
    anything else is a Recording field (account defaults to a "Stored" Flyflow account).
    """
    import hashlib
    import itertools
    import json

    from django.utils import timezone

    from recordings_portal.audio.analysis import analyse
    from recordings_portal.catalog import storage
    from recordings_portal.catalog.models import Recording, RecordingState
    from recordings_portal.simulators.audio import AudioLibrary, AudioSpec
    from recordings_portal.vendors.models import VendorAccount

    library = AudioLibrary()
    numbers = itertools.count(1)

    def make(format="mp3", channels=2, sample_rate=8000, duration=20, **fields):
        audio = library.get(AudioSpec(format, channels, sample_rate, duration))
        account = (
            fields.pop("account", None)
            or VendorAccount.objects.get_or_create(
                name="Stored",
                defaults={"kind": "flyflow", "base_url": "https://api.flyflow.dev/v1"},
            )[0]
        )
        number = next(numbers)
        recording = Recording.objects.create(
            account=account,
            external_id=fields.pop("external_id", f"stored-{number}"),
            started_at=fields.pop("started_at", timezone.now()),
            **fields,
        )
        data = audio.path.read_bytes()
        analysis = analyse(audio.path)
        key = f"recordings/{account.id}/{recording.id}/{audio.sha256}.{format}"
        storage.write_bytes(key, data)
        storage.write_bytes(f"{key}.peaks.json", json.dumps(analysis.peaks).encode())
        Recording.objects.filter(id=recording.id).update(
            state=RecordingState.AVAILABLE,
            storage_key=key,
            peaks_key=f"{key}.peaks.json",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            format=format,
            channels=channels,
            sample_rate=analysis.info.sample_rate,
            duration=round(analysis.duration, 3),
            downloaded_at=timezone.now(),
        )
        recording.refresh_from_db()
        return recording

    return make
