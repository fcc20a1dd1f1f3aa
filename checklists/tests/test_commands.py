"""The management commands, and the deploy checks of production settings."""

import json
import os
import secrets
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.checks import Tags, run_checks
from django.core.management import call_command

from checklists.models import Checklist, ChecklistVersion, Item
from core.models import ApiToken, Event
from core.tokens import api_token_user

ROOT = Path(__file__).resolve().parents[2]
SMALL = "# Release gate\n\n## Ops\n\n- [ ] Rollback plan ready\n- [ ] On-call named\n"


def run(*args) -> tuple[str, str, int]:
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit:
        code = exit.code
    return out.getvalue(), err.getvalue(), code


def test_import_checklist_prints_the_same_json_as_the_api(db, api, people, tmp_path):
    path = tmp_path / "gate.md"
    path.write_bytes(b"\xef\xbb\xbf" + SMALL.replace("\n", "\r\n").encode())

    out, err, code = run("import_checklist", str(path), "--name", "Release gate")

    assert (code, err) == (0, "")
    printed = json.loads(out)
    assert printed["checklist"] == "release-gate" and printed["version"] == 1
    assert printed["counts"]["items"] == 2
    again = api.post("admin", "checklists/import", {"name": "Release gate", "markdown": path.read_bytes().decode("utf-8-sig")})
    assert (again.status_code, again.json()) == (200, printed)
    event = Event.objects.filter(kind="import").first()
    assert (event.source, event.actor_id, event.actor_name) == ("cli", None, "system")


def test_import_checklist_reimport_prints_the_existing_version(db, tmp_path):
    path = tmp_path / "gate.md"
    path.write_text(SMALL)
    first, _, _ = run("import_checklist", str(path))

    again, _, code = run("import_checklist", str(path))

    assert code == 0
    assert json.loads(again) == json.loads(first)
    assert ChecklistVersion.objects.count() == 1


def test_import_checklist_output_matches_the_api_byte_for_byte(db, api, people, tmp_path):
    path = tmp_path / "gate.md"
    path.write_text(SMALL)
    from_api = api.post("admin", "checklists/import", {"name": "Release gate", "markdown": SMALL})

    out, _, _ = run("import_checklist", str(path), "--name", "Release gate")

    assert out.strip() == from_api.content.decode()


def test_import_checklist_refusal_exits_1_with_the_sentence_and_line(db, tmp_path):
    path = tmp_path / "broken.md"
    path.write_text("# Broken\n\n## Ops\n\n- [ ] Health\n  <!-- probe\n  type: ftp\n  -->\n")

    out, err, code = run("import_checklist", str(path))

    assert code == 1
    assert out == ""
    assert "line " in err and str(path) in err
    assert Checklist.objects.count() == ChecklistVersion.objects.count() == Item.objects.count() == Event.objects.count() == 0


def test_import_checklist_missing_file_exits_1(db, tmp_path):
    out, err, code = run("import_checklist", str(tmp_path / "nope.md"))

    assert code == 1
    assert "Cannot read" in err


def test_import_checklist_as_a_real_process(db, tmp_path):
    """What a person at a shell sees: exit status and streams."""
    path = tmp_path / "binary.md"
    path.write_bytes(b"# T\n\n- [ ] x\n\x00\xff")
    result = subprocess.run(
        [sys.executable, "manage.py", "import_checklist", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DATABASE_URL": "sqlite:///" + str(tmp_path / "cli.sqlite3")},
    )

    assert result.returncode == 1
    assert "line 4" in result.stderr
    assert result.stdout == ""


def test_create_api_token_makes_the_user_and_prints_the_token_last(db):
    out, err, code = run("create_api_token", "ci-bot", "--role", "engineer")

    assert code == 0
    token = out.strip().splitlines()[-1]
    user = api_token_user(token)
    assert user.username == "ci-bot"
    assert list(user.groups.values_list("name", flat=True)) == ["engineer"]
    assert not user.has_usable_password()
    assert ApiToken.objects.get().key_hash != token


def test_create_api_token_for_an_existing_user_adds_the_role(people):
    out, _, _ = run("create_api_token", "viewer", "--role", "lead")

    token = out.strip().splitlines()[-1]
    assert set(api_token_user(token).groups.values_list("name", flat=True)) == {"viewer", "lead"}
    assert people["viewer"].check_password("pw-viewer")


def test_create_api_token_token_works_on_the_api(db, client, people, deployment):
    out, _, _ = run("create_api_token", "gatekeeper", "--role", "viewer")
    token = out.strip().splitlines()[-1]

    response = client.get(f"/api/v1/deployments/{deployment.pk}/gate", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 409


def test_create_api_token_with_a_team_gives_the_role_in_that_team_only(db, client, deployment):
    from core.models import Membership, Team

    other = deployment.environment.service
    other.team = Team.objects.create(slug="billing", name="Billing")
    other.save()
    out, _, code = run("create_api_token", "ci-bot", "--role", "engineer", "--team", "platform")

    assert code == 0 and "engineer role in team platform" in out
    token = out.strip().splitlines()[-1]
    user = api_token_user(token)
    assert list(user.groups.all()) == []
    membership = Membership.objects.get(user=user)
    assert (membership.team.slug, membership.role) == ("platform", "engineer")
    assert Event.objects.filter(kind="team", source="cli").count() == 1
    assert Event.objects.get(kind="membership").after == "engineer"
    # A billing deployment is not theirs to see.
    response = client.get(f"/api/v1/deployments/{deployment.pk}/gate", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 404


def test_create_api_token_refuses_a_team_that_is_not_a_slug(db):
    with pytest.raises(Exception, match="platform-team"):
        call_command("create_api_token", "x", "--role", "lead", "--team", "Platform Team", stdout=StringIO(), stderr=StringIO())


def test_create_api_token_refuses_an_unknown_role(db):
    with pytest.raises(Exception, match="role"):
        call_command("create_api_token", "x", "--role", "superhero", stdout=StringIO(), stderr=StringIO())


def test_deploy_check_warns_when_secret_keys_are_missing(db, settings):
    settings.CTRLREADY_SECRET_KEYS = []

    ids = [message.id for message in run_checks(tags=[Tags.security], include_deployment_checks=True)]

    assert "ctrlready.W001" in ids


def test_check_errors_on_a_key_that_is_not_fernet(db, settings):
    settings.CTRLREADY_SECRET_KEYS = ["not-a-fernet-key"]

    assert "ctrlready.E001" in [message.id for message in run_checks(tags=[Tags.security])]


def test_production_settings_pass_the_deploy_checks_without_a_warning(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CTRLREADY_SECRET_KEYS", "DATABASE_URL"}
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50)[:50],
        ALLOWED_HOSTS="ctrlready.example.com",
        CTRLREADY_SECRET_KEYS=Fernet.generate_key().decode(),
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_without_secret_keys_fail_the_deploy_checks(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "CTRLREADY_SECRET_KEYS"}
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50)[:50], ALLOWED_HOSTS="ctrlready.example.com", CTRLREADY_SECRET_KEYS="")

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )

    assert result.returncode != 0
    assert "ctrlready.W001" in result.stdout + result.stderr
