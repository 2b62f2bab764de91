from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from recordings_portal.audit.models import AccessEvent
from recordings_portal.catalog.models import Recording

HTMX = {"HTTP_HX_REQUEST": "true"}


def report(simulators, kaleyra):
    import httpx

    response = httpx.get(
        f"{kaleyra.base_url}/v1/{kaleyra.config['sid']}/voice/recordings/report.csv",
        headers={"api-key": kaleyra.get_secrets()["api_key"]},
    )
    return response.content


def test_an_admin_imports_a_kaleyra_report_from_the_account_page(
    client_for, vendor_account, simulators, monkeypatch, django_capture_on_commit_callbacks
):
    from recordings_portal.catalog import tasks

    queued = []
    monkeypatch.setattr(tasks.download_recording, "delay", lambda *args: queued.append(args))
    kaleyra = vendor_account("kaleyra")
    upload = SimpleUploadedFile("report.csv", report(simulators, kaleyra), "text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for("admin").post(
            reverse("vendors:import", args=[kaleyra.pk]), {"file": upload}, **HTMX
        )
    assert response.status_code == 200
    assert "Imported:" in response.content.decode()
    assert Recording.objects.filter(account=kaleyra).count() > 0
    assert len(queued) == Recording.objects.filter(account=kaleyra).count()
    event = AccessEvent.objects.get(action="vendor_account.import")
    assert event.details["file"] == "report.csv"


def test_a_bad_file_changes_nothing_and_says_why(client_for, vendor_account):
    kaleyra = vendor_account("kaleyra")
    upload = SimpleUploadedFile("notes.csv", b"hello,world\n1,2\n", "text/csv")
    response = client_for("admin").post(
        reverse("vendors:import", args=[kaleyra.pk]), {"file": upload}
    )
    assert response.status_code == 400
    assert "Nothing was imported" in response.content.decode()
    assert not Recording.objects.exists()
    assert AccessEvent.objects.get(action="vendor_account.import").outcome == "failure"


def test_an_oversized_file_is_refused_before_it_is_read(client_for, vendor_account, monkeypatch):
    from recordings_portal.vendors import views

    monkeypatch.setattr(views, "MAX_BYTES", 10)
    kaleyra = vendor_account("kaleyra")
    upload = SimpleUploadedFile("big.csv", b"x" * 11, "text/csv")
    response = client_for("admin").post(
        reverse("vendors:import", args=[kaleyra.pk]), {"file": upload}
    )
    assert response.status_code == 400
    assert "Split it" in response.content.decode()


def test_kinds_without_imports_refuse_them(client_for, vendor_account):
    flyflow = vendor_account("flyflow")
    upload = SimpleUploadedFile("ids.txt", b"1001\n", "text/plain")
    response = client_for("admin").post(
        reverse("vendors:import", args=[flyflow.pk]), {"file": upload}
    )
    assert response.status_code == 400
    assert "do not import files" in response.content.decode()


def test_non_admins_cannot_import(client_for, vendor_account):
    kaleyra = vendor_account("kaleyra")
    upload = SimpleUploadedFile("r.csv", b"ID\n", "text/csv")
    for role in ("supervisor", "compliance", "auditor"):
        url = reverse("vendors:import", args=[kaleyra.pk])
        assert client_for(role).post(url, {"file": upload}).status_code == 403
