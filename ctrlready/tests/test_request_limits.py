"""A body over CTRLREADY_MAX_REQUEST_BYTES is refused from its Content-Length, before anything reads it.
(tests_e2e/test_production.py sends a 300 MB announcement to gunicorn itself.)"""

import pytest
from django.core.handlers.wsgi import WSGIRequest

MB = 1024 * 1024


@pytest.fixture
def body_read(monkeypatch):
    """Records every read of a request body."""
    reads = []
    original = WSGIRequest.read

    def read(self, *args, **kwargs):
        reads.append(self.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(WSGIRequest, "read", read)
    monkeypatch.setattr(WSGIRequest, "body", property(lambda self: reads.append(self.path) or b""))
    return reads


def test_an_anonymous_300_mb_multipart_upload_is_refused_unread(client, body_read, db):
    response = client.post(
        "/checklists/", data=b"--b\r\n", content_type="multipart/form-data; boundary=b", CONTENT_LENGTH=str(300 * MB)
    )
    assert response.status_code == 413
    assert "larger than 4 MB, so it was not read" in response.content.decode()
    assert body_read == []


def test_the_api_answers_413_in_its_error_shape(client, body_read, db):
    response = client.post(
        "/api/v1/checklists/import", data=b"{}", content_type="application/json", CONTENT_LENGTH=str(5 * MB)
    )
    assert response.status_code == 413
    assert "not read" in response.json()["error"]
    assert body_read == []


def test_a_body_within_the_limit_goes_through(api):
    markdown = "# Big prose\n\n" + "Some words of prose. " * 90_000 + "\n\n- [ ] one\n"
    assert 1.5 * MB < len(markdown) < 2 * MB
    response = api.post("admin", "checklists/import", {"name": "Big prose", "markdown": markdown})
    assert response.status_code == 201


def test_the_limit_is_a_setting(client, settings, db):
    settings.CTRLREADY_MAX_REQUEST_BYTES = 1000
    response = client.post("/api/v1/checklists/import", data="x" * 1001, content_type="application/json")
    assert response.status_code == 413 and "larger than 1,000 bytes" in response.json()["error"]
