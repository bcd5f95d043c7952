"""Calls every operation of the OpenAPI document through the client generated from it, with
sensible data on the demo organization, and checks that each answer parses as its typed model
(not None, not a Problem). Fails when an operation of the document was not called.

Webhooks go to the receiver of scripts/api-conformance (e2e/api/receiver.py), and what it got is
checked with the Standard Webhooks library: each delivery verifies with the endpoint's secret, a
tampered body does not, and after a rotation both the old and the new secret verify.

Usage: PYTHONPATH=<dir holding rollcall_client> python every_operation.py \
           --base http://127.0.0.1:PORT --token rollcall_sa_… --scim-token rollcall_sa_… \
           --document openapi.json \
           --receiver http://127.0.0.1:PORT --received FILE
The token needs users:read, users:write and tokens:write; the SCIM token the scim scope.
"""

import argparse
import importlib
import io
import json
import re
import sys
import time
import uuid

import attrs
import httpx
import standardwebhooks
from rollcall_client import AuthenticatedClient
from rollcall_client import models as m
from rollcall_client.types import File

NO_BODY = object()


class Failure(Exception):
    pass


class Api:
    def __init__(self, base: str, token: str, document: dict):
        self.base = base
        self.client = AuthenticatedClient(base_url=f"{base}/api/v1", token=token, timeout=60)
        self.tags = {
            op["operationId"]: op["tags"][0]
            for item in document["paths"].values()
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }
        self.called: set[str] = set()

    def __call__(self, operation: str, expect, *args, **kwargs):
        """Calls `operation` and returns its parsed answer, which must be an `expect` (a model
        class, `[Model]` for a list of them, or NO_BODY for a 204)."""
        package = re.sub(r"[^0-9a-z]+", "_", self.tags[operation].lower())
        module = importlib.import_module(f"rollcall_client.api.{package}.{operation}")
        res = module.sync_detailed(*args, client=self.client, **kwargs)
        self.called.add(operation)
        parsed = res.parsed
        what = f"{operation}: {int(res.status_code)} {res.content[:400]!r}"
        if not 200 <= res.status_code < 300 or isinstance(parsed, m.Problem):
            raise Failure(f"{what}: not a success")
        if expect is NO_BODY:
            if res.status_code != 204 or res.content:
                raise Failure(f"{what}: expected 204 without a body")
            return None
        if isinstance(expect, list):
            if not isinstance(parsed, list) or not all(isinstance(p, expect[0]) for p in parsed):
                raise Failure(f"{what}: expected a list of {expect[0].__name__}, parsed {parsed!r:.200}")
        elif not isinstance(parsed, expect):
            raise Failure(f"{what}: expected {expect}, parsed {type(parsed).__name__}")
        undocumented(operation, parsed)
        return parsed


def undocumented(operation: str, value, path: str = "$") -> None:
    """A field the document does not declare lands in `additional_properties` of a model that
    declares fields: the answer has drifted from its schema."""
    if isinstance(value, list):
        for i, v in enumerate(value):
            undocumented(operation, v, f"{path}[{i}]")
        return
    if not attrs.has(type(value)):
        return
    declared = [f.name for f in attrs.fields(type(value)) if f.name != "additional_properties"]
    extra = getattr(value, "additional_properties", {})
    if declared and extra:
        raise Failure(f"{operation}: {path} has fields the document does not declare: {sorted(extra)}")
    for name in declared:
        undocumented(operation, getattr(value, name), f"{path}.{name}")


def refused(api: Api, operation: str, status: int, *args, **kwargs):
    """Calls `operation`, which must be refused with `status` and a problem the client parses."""
    package = re.sub(r"[^0-9a-z]+", "_", api.tags[operation].lower())
    module = importlib.import_module(f"rollcall_client.api.{package}.{operation}")
    res = module.sync_detailed(*args, client=api.client, **kwargs)
    api.called.add(operation)
    if int(res.status_code) != status or not isinstance(res.parsed, m.Problem):
        raise Failure(f"{operation}: {int(res.status_code)} {res.content[:400]!r}: expected a {status} problem")
    return res.parsed


def emergency_access(api: Api) -> None:
    """Who may take emergency access and for how long; the demo's uses, read and reviewed.
    Taking it is a person's act for themselves, and this client's token is a service account:
    the answer is a 403 problem that says so (the grant itself is tested below HTTP and in the
    web tests, through a person's session and token)."""
    changed = api("update_emergency_access_settings", m.EmergencySettings,
                  body=m.EmergencySettingsChange(role="Provider", max_minutes=180))
    assert changed.max_minutes == 180 and changed.role_name == "Provider", changed
    settings = api("get_emergency_access_settings", m.EmergencySettings)
    assert settings == changed, settings
    uses = api("list_emergency_access", [m.EmergencyGrant], limit=50)
    assert uses, "the demo has uses of emergency access"
    one = api("get_emergency_access", m.EmergencyGrant, uses[0].id)
    assert one.id == uses[0].id, one
    waiting = [u for u in uses if str(u.review_state) == "open"]
    decision = m.ReviewDecision(decision=m.Decision.ACCEPTED, note="Confirmed with the billing lead.")
    if waiting:
        reviewed = api("review_emergency_access", m.EmergencyGrant, waiting[0].id, body=decision)
        assert str(reviewed.review_state) == "accepted", reviewed.review_state
    else:
        # The fuzzers' stateful phase reviewed the demo's uses already: a review is made once.
        refused(api, "review_emergency_access", 409, uses[0].id, body=decision)
    live = [u for u in uses if u.live]
    if live:
        ended = api("end_emergency_access", m.EmergencyGrant, live[0].id)
        assert not ended.live and ended.ended_at, ended
    gone = [u for u in uses if not u.live]
    refused(api, "end_emergency_access", 409, (gone or [ended])[0].id)
    problem = refused(api, "grant_emergency_access", 403, body=m.EmergencyRequest(
        permission="clinical.charts", reason="Covering a colleague's patients tonight"))
    assert "person" in (problem.detail or ""), problem


def wait_for_job(api: Api, job_id, expect):
    deadline = time.monotonic() + 60
    while True:
        answer = api("get_job", expect, job_id)
        if answer.job.finished:
            return answer
        if time.monotonic() > deadline:
            raise Failure(f"job {job_id} did not finish within 60 s")
        time.sleep(0.3)


class Receiver:
    """What the script's webhook receiver got, read from its file."""

    def __init__(self, url: str, path: str):
        self.url, self.path = url, path

    def wait(self, hook_path: str, found, what: str, count: int = 1) -> list[dict]:
        """Waits up to 30 s for `count` deliveries to `hook_path` of which `found` holds; returns
        them all."""
        deadline = time.monotonic() + 30
        while True:
            try:
                with open(self.path) as f:
                    got = [json.loads(line) for line in f if line.strip()]
            except FileNotFoundError:
                got = []
            mine = [g for g in got if g["path"] == hook_path and found(g)]
            if len(mine) >= count:
                return mine
            if time.monotonic() > deadline:
                raise Failure(f"the receiver did not get {what} within 30 s")
            time.sleep(0.2)


def verified(secret: str, delivery: dict) -> dict:
    """The delivery's body, after the Standard Webhooks library verified it with `secret`."""
    hook = standardwebhooks.Webhook(secret)
    body = delivery["body"]
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    payload = hook.verify(body, headers)
    try:
        hook.verify(body.replace('"', "'", 1), headers)
    except standardwebhooks.WebhookVerificationError:
        pass
    else:
        raise Failure("a tampered webhook body verified")
    return payload


def webhooks_and_sign_in_apps(api: Api, receiver: Receiver, tag: str, deactivate) -> None:
    """A webhook endpoint receives a deactivation, a test event and a redelivery after a secret
    rotation; a sign-in app is registered, listed and deleted."""
    hook_path = f"/hook/client-{tag}"
    made = api("create_webhook", m.WithSecret, body=m.NewEndpoint(
        url=f"{receiver.url}{hook_path}", description=f"Conformance {tag}",
        event_types=["user.deactivated", "user.access_changed"]))
    hook_id = made.endpoint.id
    assert any(e.id == hook_id for e in api("list_webhooks", [m.EndpointView]))
    assert api("get_webhook", m.EndpointView, hook_id).url.endswith(hook_path)
    changed = api("update_webhook", m.EndpointView, hook_id, body=m.EndpointChange(description=f"Renamed {tag}"))
    assert changed.description == f"Renamed {tag}", changed.description

    # A real event: the deactivation of someone, signed with the endpoint's secret.
    someone = deactivate()
    got = receiver.wait(hook_path, lambda g: '"user.deactivated"' in g["body"], "the deactivation")
    event = verified(made.secret, got[0])
    assert event["data"]["user"]["id"] == str(someone), event

    # A test event, then its redelivery after a rotation: the same webhook-id, signed with both.
    test = api("test_webhook", m.DeliveryView, hook_id)
    first = receiver.wait(hook_path, lambda g: g["headers"].get("webhook-id") == test.event_id, "the test event")
    assert verified(made.secret, first[0])["type"] == "webhook.test"
    deadline = time.monotonic() + 30
    while True:
        page = api("list_webhook_deliveries", m.DeliveryPage, hook_id, limit=10)
        mine = next(d for d in page.deliveries if d.id == test.id)
        if mine.state == "delivered":
            break
        if time.monotonic() > deadline:
            raise Failure(f"the test delivery is {mine.state} after 30 s")
        time.sleep(0.2)
    rotated = api("rotate_webhook_secret", m.WithSecret, hook_id)
    assert rotated.secret != made.secret
    api("redeliver_webhook", m.DeliveryView, test.id)
    both = receiver.wait(hook_path, lambda g: g["headers"].get("webhook-id") == test.event_id, "the redelivery", 2)
    verified(rotated.secret, both[-1])
    verified(made.secret, both[-1])
    api("delete_webhook", NO_BODY, hook_id)

    # A sign-in app: registered (its secret shown once), listed, changed, its secret rotated, deleted.
    app = api("create_oidc_client", m.CreatedClient, body=m.NewClient(
        name=f"Scheduling {tag}", redirect_uris=[f"https://scheduling.clinic.example/{tag}/callback"],
        confidential=True, scopes=["profile", "email", "rollcall"]))
    assert app.client_secret, "a confidential app gets a secret"
    assert any(c.id == app.id for c in api("list_oidc_clients", [m.ClientView]))
    changed = api("update_oidc_client", m.ClientView, app.id, body=m.ClientChange(
        name=f"Scheduling {tag} renamed", scopes=["profile", "email"]))
    assert changed.name == f"Scheduling {tag} renamed" and changed.confidential
    assert changed.redirect_uris == app.redirect_uris, "what is absent stays"
    rotated = api("rotate_oidc_client_secret", m.CreatedClient, app.id)
    assert rotated.client_secret and rotated.client_secret != app.client_secret
    api("delete_oidc_client", NO_BODY, app.id)
    assert not any(c.id == app.id for c in api("list_oidc_clients", [m.ClientView]))


def run(api: Api, document: dict, receiver: Receiver, scim_token: str) -> None:
    tag = uuid.uuid4().hex[:8]

    # The caller, this document and the reference data.
    me = api("get_me", m.Me)
    assert "users:write" in [str(s) for s in me.scopes], me.scopes
    doc = api("get_openapi_document", m.GetOpenapiDocumentResponse200)
    assert doc.additional_properties["openapi"].startswith("3.1"), doc.additional_properties["openapi"]
    locations = api("list_locations", [m.LocationView])
    roles = api("list_roles", [m.RoleView])
    user_types = api("list_user_types", [m.UserTypeView])
    permissions = api("list_permissions", [m.PermissionView])
    assert locations and roles and user_types and permissions
    downtown = next(loc for loc in locations if loc.code == "DT")
    summary = api("compliance_summary", m.ComplianceSummary)
    assert any(c.code == "DT" for c in summary.clinics), summary.clinics
    assert summary.second_factor.active > 0, summary.second_factor
    front_desk = next(r for r in roles if r.name == "Front Desk")

    # Users: a page, a profile, an edit.
    page = api("list_users", m.UserPage, limit=50, status="active")
    assert page.users, "the demo has active users"
    first = page.users[0]
    profile = api("get_user", m.Profile, first.id)
    assert str(profile.id) == str(first.id)
    edited = api("update_user", m.Profile, first.id, body=m.ProfileEdit(
        display_name=f"Conformance {tag}", leaving_date="2030-01-31 17:00"))
    assert edited.display_name == f"Conformance {tag}", edited.display_name
    assert edited.leaving_at.startswith("2030-01-31 17:00"), edited.leaving_at
    # The export is text (CSV here), handed over as the body's bytes.
    exported = api("export_users", bytes, format_="csv", status="active")
    assert exported.decode().startswith("id,"), exported[:100]

    # Invitations: one (naming its location by code and role by name), a batch (by ids), resend
    # one, revoke another.
    one = api("create_invitation", m.Invited, body=m.InviteOne(
        email=f"one.{tag}@clinic.example", full_name="Conformance One",
        location=downtown.code, role=front_desk.name))
    batch = api("create_invitation_batch", m.PasteResult, idempotency_key=str(uuid.uuid4()),
                body=m.BatchRequest(
                    addresses=f"two.{tag}@clinic.example, Three <three.{tag}@clinic.example>",
                    location=str(downtown.id), role=str(front_desk.id)))
    assert len(batch.invited) == 2, batch
    api("resend_invitation", NO_BODY, one.user_id)
    api("revoke_invitation", NO_BODY, batch.invited[0].user_id)

    # Deactivate (heard by a webhook) and reactivate someone invited here (no demo account is
    # disturbed).
    someone = batch.invited[1].user_id

    def deactivate():
        api("deactivate_user", NO_BODY, someone)
        return someone

    webhooks_and_sign_in_apps(api, receiver, tag, deactivate)
    back = api("reactivate_user", m.Reactivated, someone)
    assert str(back.status) == "pending", back.status

    # Bulk update: a dry run, then the update itself and its job.
    request = m.BulkUpdateRequest(user_ids=[one.user_id, someone], grant_permissions=[m.Permission("calendar.view")])
    dry = api("dry_run_bulk_update", m.DryRun, body=request)
    assert dry.selected == 2, dry.selected
    update = api("create_bulk_update", m.BulkUpdateAnswer, body=request, idempotency_key=str(uuid.uuid4()))
    done = wait_for_job(api, update.job.id, m.BulkUpdateAnswer)
    assert done.outcome is not None
    api("list_job_refusals", m.RefusedPage, update.job.id, limit=10)

    # Import: the template's header, an upload, its rows, a row edit, the commit and its job.
    # The generator hands a text/csv answer over as the body's bytes.
    template = api("get_import_template", bytes)
    header = template.decode().splitlines()[0]
    columns = header.split(",")
    rows = []
    for n in (1, 2):
        cells = {"first_name": f"Import{n}", "last_name": tag, "email": f"import{n}.{tag}@clinic.example",
                 "default_location": "DT"}
        rows.append(",".join(cells.get(c, "") for c in columns))
    csv = "\n".join([header, *rows]) + "\n"
    # The generated client sends a binary body's `payload`.
    uploaded = api("create_import", m.Uploaded, body=File(payload=io.BytesIO(csv.encode())),
                   x_file_name=f"conformance-{tag}.csv")
    assert uploaded.summary.rows == 2 and uploaded.summary.in_error == 0, uploaded.summary
    import_id = uploaded.import_.id
    review = api("list_import_rows", m.Review, import_id, limit=10)
    assert len(review.rows) == 2, review
    row = api("update_import_row", m.ReviewRow, import_id, review.rows[0].seq,
              body=m.RowEdit(cells=m.RowEditCells.from_dict({"mobile": "+1 312 555 0142"})))
    assert not row.in_error, row
    committed = api("commit_import", m.Committed, import_id, body=m.Commit(
        access=m.AccessType0(mode=m.AccessType0Mode.ROLES, role_ids=[front_desk.id]),
        location_id=downtown.id, notifications=[]))
    imported = wait_for_job(api, committed.job.id, m.ImportAnswer)
    assert imported.job.summary.get("created") == 2, imported.job.summary

    # The staff directory.
    loaded = api("replace_directory", m.Loaded, idempotency_key=str(uuid.uuid4()), body=m.Roster(people=[
        m.PersonIn(external_id=f"E-{tag}", first_name="Dir", last_name=tag,
                   email=f"dir.{tag}@clinic.example", groups=["Conformance"])]))
    assert loaded.people == 1, loaded
    overview = api("get_directory", m.Overview)
    assert overview.people == 1, overview
    # A partial load adds one person and leaves the first listed.
    api("update_directory", m.Loaded, idempotency_key=str(uuid.uuid4()), body=m.Roster(people=[
        m.PersonIn(external_id=f"E2-{tag}", first_name="Dir", last_name=f"{tag}b",
                   email=f"dir2.{tag}@clinic.example", groups=["Conformance"])]))
    overview = api("get_directory", m.Overview)
    assert overview.people == 2, overview

    # Emergency access.
    emergency_access(api)

    # The audit log.
    audit = api("list_audit_events", m.AuditPage, limit=20)
    assert audit.events, "the calls above are audited"

    # Provisioning: a group the provider pushes over SCIM, mapped to a role and a location;
    # the provider's requests in the log.
    pushed = httpx.post(f"{api.base}/scim/v2/Groups", headers={
        "Authorization": f"Bearer {scim_token}", "Content-Type": "application/scim+json"},
        content=json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                            "displayName": f"Conformance {tag}"}), timeout=30)
    assert pushed.status_code == 201, pushed.text
    group_id = pushed.json()["id"]
    groups = api("list_provisioned_groups", [m.MappedGroup])
    assert any(str(g.id) == group_id for g in groups), groups
    mapped = api("map_provisioned_group", m.MappedGroup, group_id,
                 body=m.Mapping(roles=[front_desk.name], locations=[downtown.code]))
    assert [r.name for r in mapped.roles] == [front_desk.name], mapped.roles
    log = api("list_scim_requests", [m.RequestView])
    assert any(r.method == "POST" and r.path == "/Groups" for r in log), log[:3]
    # Access reviews: a campaign over Downtown, the caller's queue, a decision (a service account
    # reviews nobody, so it is skipped), the evidence as JSON and CSV.
    campaign = api("create_access_review", m.CampaignView, body=m.NewCampaign(
        name=f"Conformance {tag}", due_date="2030-06-30", location="DT"))
    assert campaign.counts.total > 0, campaign.counts
    assert any(c.id == campaign.id for c in api("list_access_reviews", [m.CampaignView]))
    assert api("get_access_review", m.CampaignView, campaign.id).name == f"Conformance {tag}"
    api("list_access_review_items", m.Queue, campaign.id, limit=10)
    decided = api("decide_access_review", [m.DecisionOutcome], campaign.id, body=m.DecisionRequest(
        users=[one.user_id], decision="keep", note="Conformance"))
    assert len(decided) == 1, decided
    evidence = api("export_access_review_evidence", m.Evidence, campaign.id)
    assert evidence.items, "the campaign covers Downtown's people"
    sheet = api("export_access_review_evidence_csv", bytes, campaign.id)
    assert sheet.decode().startswith("campaign,person,"), sheet[:100]
    closed = api("close_access_review", m.CampaignView, campaign.id)
    assert closed.overdue_action in ("escalate", "revoke"), closed.overdue_action

    # Tokens: list, make, rotate, revoke.
    api("list_tokens", [m.TokenView])
    issued = api("create_token", m.Issued, body=m.NewToken(
        name=f"conformance {tag}", scopes="users:read", owner="organization", expires_in_days=30))
    rotated = api("rotate_token", m.Issued, issued.token.id)
    assert rotated.secret != issued.secret
    revoked = api("revoke_token", m.TokenView, issued.token.id)
    assert revoked.state == "revoked", revoked.state


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--scim-token", required=True)
    parser.add_argument("--document", required=True)
    parser.add_argument("--receiver", required=True)
    parser.add_argument("--received", required=True)
    args = parser.parse_args()
    with open(args.document) as f:
        document = json.load(f)
    api = Api(args.base, args.token, document)
    try:
        run(api, document, Receiver(args.receiver, args.received), args.scim_token)
    except (Failure, AssertionError) as e:
        print(f"FAILED: {e!r}", file=sys.stderr)
        return 1
    missing = sorted(set(api.tags) - api.called)
    if missing:
        print(f"FAILED: operations of the document not called: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"every operation called and parsed: {len(api.called)} of {len(api.tags)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
