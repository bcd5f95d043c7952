"""schemathesis hooks of scripts/api-conformance.

`positive_data_acceptance` expects every schema-valid request to succeed. Some refusals depend
on what no JSON Schema can say: the organization's data and rules, the state of the thing
acted on, or the content of an uploaded file. `positive_data_acceptance_in_context` is that
check, forgiving a 422 only when it is one of those: a rule of the rule engine (the problem
names its `rule`), or a code listed below for its operation. Any other 422 to a schema-valid
request is still a failure. The script runs this check instead of the built-in one.
"""

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# Per operation: codes of refusals that depend on data, state or content, not on the request's
# shape; `code@field` forgives the code for that field only.
IN_CONTEXT = {
    # The account's state: already inactive, not inactive, or a legacy status no action leaves.
    "deactivate_user": {"status_already_inactive", "status_legacy"},
    "reactivate_user": {"status_not_inactive", "status_legacy"},
    # Granting and taking the same thing, and filters naming nobody: relations between fields.
    "dry_run_bulk_update": {
        "bulk_update_contradiction", "bulk_update_empty", "selection_empty", "selection_ambiguous", "filter_empty",
    },
    "create_bulk_update": {
        "bulk_update_contradiction", "bulk_update_empty", "selection_empty", "selection_ambiguous", "filter_empty",
    },
    # Paging backwards and forwards at once: a relation between two parameters.
    "list_audit_events": {"paging_ambiguous"},
    # The file's content: CSV that is empty, unreadable, or not in the template's columns.
    "create_import": {
        "file_empty", "file_unreadable", "file_wrong_separator", "header_missing", "column_duplicate",
        "column_missing", "column_name_empty", "column_unknown", "file_not_utf8",
    },
    # An import whose rows (which edits change) are all in error.
    "commit_import": {"import_nothing_valid"},
    # Pasted text that holds no address, or none the organization does not already have.
    "create_invitation_batch": {"paste_empty", "batch_empty"},
    # An address that does not parse, the organization's user types and locations.
    "create_invitation": {"email_invalid", "user_type_unknown", "location_inactive"},
    # The calling token's own scopes bound the new token's; a personal token needs a person.
    "create_token": {"scope_not_held", "owner_person_unavailable"},
    # The organization's user types, locations and roles (by code or name), not `status`; a cursor
    # is only ever one the server gave out.
    "list_users": {
        "filter_value_unknown@user_type", "filter_value_unknown@location", "filter_value_unknown@role",
        "cursor_invalid@after",
    },
    # Check digits, phone numbers, the organization's user types, locations, notifications.
    "update_user": {
        "npi_invalid_check_digit", "mobile_invalid", "user_type_unknown", "location_inactive",
        "location_unavailable", "notification_invalid",
    },
}


@schemathesis.check
def positive_data_acceptance_in_context(ctx, response, case):
    if response.status_code == 422:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        forgiven = IN_CONTEXT.get(case.operation.definition.raw.get("operationId"), set())
        code = problem.get("code")
        fields = {e.get("field") for e in problem.get("errors", [])}
        if problem.get("rule") or code in forgiven or (fields and all(f"{code}@{f}" in forgiven for f in fields)):
            return None
    return positive_data_acceptance(ctx, response, case)
