import json

import pytest


def test_health_answers_ok_without_login(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_database_and_broker(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_ready_answers_503_when_the_broker_is_down(client, settings):
    from ctrlready.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        response = client.get("/health/ready")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable"


def test_responses_carry_a_request_id(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


def test_log_lines_are_json_with_request_id_and_user(capfd):
    import logging

    from pythonjsonlogger.json import JsonFormatter

    from ctrlready.logging import RequestContextFilter, _request_id, _user

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter("%(levelname)s %(message)s %(request_id)s %(user)s"))
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("ctrlready.test")
    logger.addHandler(handler)
    token_id, token_user = _request_id.set("req-1"), _user.set("alice")
    try:
        logger.warning("hello")
    finally:
        _request_id.reset(token_id)
        _user.reset(token_user)
        logger.removeHandler(handler)
    line = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
    assert line["request_id"] == "req-1" and line["user"] == "alice" and line["message"] == "hello"


def test_django_request_warnings_carry_the_request_id_and_user(client, django_user_model, caplog):
    import logging

    from ctrlready.logging import RequestContextFilter

    user = django_user_model.objects.create_user("alice", password="pw")
    client.force_login(user)
    caplog.handler.addFilter(RequestContextFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get("/no-such-page/", HTTP_X_REQUEST_ID="req-404")
    record = next(r for r in caplog.records if r.name == "django.request")
    assert (record.request_id, record.user) == ("req-404", "alice")
