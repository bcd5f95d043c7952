"""schemathesis hooks of scripts/api-conformance.

`positive_data_acceptance` expects every schema-valid request to succeed. Some refusals depend
on what no JSON Schema can say: the organization's data and rules, the state of the thing
acted on, or the content of an uploaded file. `positive_data_acceptance_in_context` is that
check, forgiving a 422 only when it is one of those: a rule of the rule engine (the problem
names its `rule`), or codes listed below for its operation (every field error of the problem
must be one of them). Any other 422 to a schema-valid request is still a failure, and so is any
other 412 than a stale `If-Match` (the stored version decides). The script runs this check
instead of the built-in one.
"""

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# Per operation: codes of refusals that depend on data, state or content, not on the request's
# shape; `code@field` forgives the code for that field only.
IN_CONTEXT = {
    # The account's state: already inactive, not inactive, or a legacy status no action leaves.
    "deactivate_user": {"status_already_inactive", "status_legacy"},
    "reactivate_user": {"status_not_inactive", "status_legacy"},
    # Granting and taking the same thing, and filters naming nobody: relations between fields;
    # and the organization's locations (by id, code or name).
    "dry_run_bulk_update": {
        "bulk_update_contradiction", "bulk_update_empty", "selection_empty", "selection_ambiguous", "filter_empty",
        "location_unknown",
    },
    "create_bulk_update": {
        "bulk_update_contradiction", "bulk_update_empty", "selection_empty", "selection_ambiguous", "filter_empty",
        "location_unknown",
    },
    # Paging backwards and forwards at once, or a `to` before `from`: relations between two
    # parameters; a cursor is only ever one the server gave out.
    "list_audit_events": {"paging_ambiguous", "date_range_invalid", "cursor_invalid@after"},
    "list_import_rows": {"cursor_invalid@after"},
    "list_job_refusals": {"cursor_invalid@after"},
    "list_webhook_deliveries": {"cursor_invalid@after"},
    # Whether a host name resolves, and to a public address, is the network's to say.
    "create_webhook": {"url_unresolved", "url_not_public"},
    "update_webhook": {"url_unresolved", "url_not_public"},
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
    # is only ever one the server gave out; whether a looked-up address parses is the server's to
    # say (`format: email` is an annotation).
    "list_users": {
        "filter_value_unknown@user_type", "filter_value_unknown@location", "filter_value_unknown@role",
        "cursor_invalid@after", "email_invalid@email",
    },
    "export_users": {
        "filter_value_unknown@user_type", "filter_value_unknown@location", "filter_value_unknown@role",
        "email_invalid@email",
    },
    # Check digits, phone numbers, the organization's user types, locations, roles, notifications,
    # days a month does not have and times the clocks skip in the organization's zone.
    "update_user": {
        "npi_invalid_check_digit", "mobile_invalid", "user_type_unknown", "location_inactive",
        "location_unavailable", "location_unknown", "role_unknown", "notification_invalid",
        "leaving_date_invalid",
    },
    # Whether an address parses is the server's to say (`format: email` is an annotation), an
    # external id repeated across people is a relation between items no schema states, and days
    # a month does not have are the calendar's.
    "replace_directory": {"email_invalid", "external_id_repeated", "leaving_date_invalid"},
    "update_directory": {"email_invalid", "external_id_repeated", "leaving_date_invalid"},
    # The organization's roles (by id or name) designate who may take emergency access.
    "update_emergency_access_settings": {"role_unknown"},
    # A flag needs a note: a relation between two fields.
    "review_emergency_access": {"review_note_missing"},
    # Access reviews: a due date is a date in the organization's zone and in the future; a
    # campaign's scope and a decision's target name the organization's locations, roles, user
    # types and permissions; the selection's people and a target go together (a relation
    # between fields); a name or note of blanks only.
    "create_access_review": {
        "name_invalid", "due_date_invalid", "due_date_past", "location_unknown", "role_unknown",
        "user_type_unknown",
    },
    "decide_access_review": {
        "decision_target_missing", "location_unknown", "permission_unknown", "too_long",
    },
}


# The edit's `If-Match` names a version the profile is not at (a state no schema can know).
STALE = {"update_user": "version_stale"}


def forgiven(problem: dict, codes: set) -> bool:
    errors = problem.get("errors") or [{"code": problem.get("code")}]
    return all(e.get("code") in codes or f"{e.get('code')}@{e.get('field')}" in codes for e in errors)


@schemathesis.check
def positive_data_acceptance_in_context(ctx, response, case):
    if response.status_code in (412, 422):
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        operation = case.operation.definition.raw.get("operationId")
        if response.status_code == 412:
            if problem.get("code") == STALE.get(operation):
                return None
        elif problem.get("rule") or forgiven(problem, IN_CONTEXT.get(operation, set())):
            return None
    return positive_data_acceptance(ctx, response, case)
