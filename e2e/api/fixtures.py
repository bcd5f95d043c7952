"""Things schemathesis.toml points the fuzzers at, so they reach past "no such id": the ids of
a location and a role, an uploaded import, a finished bulk update, a webhook endpoint (pointing
at the script's receiver) and one of its deliveries.
Prints them as shell assignments for scripts/api-conformance.

Usage: python fixtures.py BASE_URL TOKEN RECEIVER_URL
       (the token needs users:read and users:write)
"""

import json
import sys
import urllib.error
import urllib.request
import uuid


def call(base, token, method, path, body=None, content_type="application/json", headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        sys.exit(f"fixtures: {method} {path} answered {e.code}: {e.read().decode()[:600]}")


def main(base, token, receiver):
    location = next(loc for loc in call(base, token, "GET", "/locations") if loc["code"] == "DT")
    role = next(r for r in call(base, token, "GET", "/roles") if r["name"] == "Front Desk")
    csv = "first_name,last_name,email,default_location\nFuzz,Row,fuzz.row@clinic.example,DT\n"
    upload = call(base, token, "POST", "/imports", csv.encode(), "text/csv")
    import_id = upload["import"]["id"]
    users = call(base, token, "GET", "/users?limit=3&status=active")["users"]
    update = call(base, token, "POST", "/bulk-updates", {
        "user_ids": [u["id"] for u in users], "grant_permissions": ["calendar.view"],
    }, headers={"Idempotency-Key": str(uuid.uuid4())})
    hook = call(base, token, "POST", "/webhooks", {
        "url": f"{receiver}/hook/fixture", "description": "Fuzzed", "event_types": ["user.invited"],
    })
    delivery = call(base, token, "POST", f"/webhooks/{hook['endpoint']['id']}/test")
    for name, value in {
        "ROLLCALL_LOCATION_ID": location["id"],
        "ROLLCALL_ROLE_ID": role["id"],
        "ROLLCALL_IMPORT_ID": import_id,
        "ROLLCALL_JOB_ID": update["job"]["id"],
        "ROLLCALL_WEBHOOK_ID": hook["endpoint"]["id"],
        "ROLLCALL_DELIVERY_ID": delivery["id"],
    }.items():
        print(f"export {name}={value}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
