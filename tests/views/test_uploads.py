"""Uploads through a real form: an NGO's credentials on its profile."""

import io

import sqlalchemy as sa

from portal.accounts.models import OrganisationDocument
from portal.extensions import db
from portal.files import StoredFile
from tests.conftest import csrf_token
from tests.files_support import ELF_BYTES, PDF_BYTES, zip_bytes


def _upload(client, data: bytes, name: str, kind: str = "registration"):
    return client.post("/organisation/documents", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/organisation"), "kind": kind, "file": (io.BytesIO(data), name)})


def _count(model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_supplier_uploads_and_downloads_a_credential(create_user, login_as, client):
    supplier = create_user("supplier")
    login_as(supplier)
    response = _upload(client, PDF_BYTES, "登记证书.pdf")
    assert response.status_code == 302
    document = db.session.scalar(sa.select(OrganisationDocument))
    assert document.file.original_name == "登记证书.pdf" and "登记" not in document.file.storage_name
    download = client.get(f"/documents/{document.id}")
    assert download.status_code == 200
    assert download.data == PDF_BYTES
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    download.close()


def test_oversize_upload_is_413_with_a_message(app, create_user, login_as, client):
    login_as(create_user("supplier"))
    app.config["MAX_CONTENT_LENGTH"] = 4096
    try:
        response = _upload(client, PDF_BYTES + b"\x00" * 8192, "big.pdf")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
    assert response.status_code == 413
    assert "文件" in response.get_data(as_text=True) or "larger" in response.get_data(as_text=True)
    assert _count(StoredFile) == 0


def test_renamed_executable_is_400(create_user, login_as, client):
    login_as(create_user("supplier"))
    response = _upload(client, ELF_BYTES, "certificate.pdf")
    assert response.status_code == 400
    assert _count(StoredFile) == 0 and _count(OrganisationDocument) == 0


def test_zip_with_traversal_is_400(create_user, login_as, client):
    login_as(create_user("supplier"))
    response = _upload(client, zip_bytes({"../../evil.sh": b"rm -rf /"}), "evidence.zip")
    assert response.status_code == 400
    assert _count(StoredFile) == 0


def test_other_organisation_cannot_download(create_user, login_as, client, app):
    owner = create_user("supplier")
    login_as(owner)
    _upload(client, PDF_BYTES, "a.pdf")
    document_id = db.session.scalar(sa.select(OrganisationDocument.id))
    other_client = app.test_client()
    from tests.conftest import login

    login(other_client, create_user("supplier").username)
    assert other_client.get(f"/documents/{document_id}").status_code == 403
    expert_client = app.test_client()
    login(expert_client, create_user("evaluator").username)
    assert expert_client.get(f"/documents/{document_id}").status_code == 403
    officer_client = app.test_client()
    login(officer_client, create_user("officer").username)
    response = officer_client.get(f"/documents/{document_id}")
    assert response.status_code == 200
    response.close()
