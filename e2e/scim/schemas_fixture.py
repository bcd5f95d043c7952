"""The schemas /scim/v2/Schemas publishes (read on stdin), written as the list scim2-cli's
--schemas takes, with valid example values (canonicalValues, which scim2-tester draws from) for
the two attributes whose valid values no schema can describe: a mobile number and an NPI with
its check digit. The tester's random strings would otherwise be refused, rightly."""

import json
import sys

doc = json.load(sys.stdin)
examples = {
    ("urn:ietf:params:scim:schemas:core:2.0:User", "phoneNumbers", "value"): ["+14155550123", "+13125550142"],
    ("urn:ietf:params:scim:schemas:extension:rollcall:2.0:User", "npi", None): ["1234567893", "1245319599"],
}
for schema in doc["Resources"]:
    for attr in schema["attributes"]:
        for sub in [None] + attr.get("subAttributes", []):
            key = (schema["id"], attr["name"], sub and sub["name"])
            if key in examples:
                (sub or attr)["canonicalValues"] = examples[key]
json.dump(doc["Resources"], sys.stdout)
