"""R4: every operation of /api/v1/openapi.json fuzzed by schemathesis, as each role — no 5xx, and every
answer (status, content type, body) as the schema says.

Valid and invalid inputs both, through the WSGI application in-process, against a database holding
a real deployment (so some generated ids and keys hit something). HYPOTHESIS_FUZZ_EXAMPLES raises the
number of examples per operation for a longer run by hand.
"""

import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ctrlready.wsgi import application

ROLES = ("viewer", "engineer", "lead", "admin")
EXAMPLES = int(os.environ.get("HYPOTHESIS_FUZZ_EXAMPLES", "12"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def in_test_transaction(environ, start_response):
    """The WSGI application, keeping the test's database connection open (as Django's test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = application(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(api, deployment):
    return schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", in_test_transaction, headers={"Authorization": f"Bearer {api.token('admin')}"}
    )


def test_the_schema_lists_every_operation(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    paths = {(operation.method.upper(), operation.path) for operation in operations}
    assert ("POST", "/api/v1/checklists/import") in paths
    assert ("GET", "/api/v1/deployments/{deployment_id}") in paths
    assert len(paths) >= 12


@pytest.mark.timeout(600)
@pytest.mark.parametrize("role", ROLES)
def test_every_operation_as_each_role_answers_as_its_schema_says(api_schema, api, role, deployment):
    # The schema is what is checked, not the compression: schemathesis reads the WSGI answer's bytes as
    # they come, and GZipMiddleware compresses any answer whose client accepts it.
    headers = {"Authorization": f"Bearer {api.token(role)}", "Accept-Encoding": "identity"}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(
                max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def fuzz(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            fuzz()
