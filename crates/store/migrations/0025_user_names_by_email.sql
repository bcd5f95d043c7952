-- A SCIM userName is compared with the access email of a user the provider has no record of,
-- without regard to case (`lower(email)`): indexed, so a create does not read every user.
CREATE INDEX users_by_lower_email ON users (org_id, lower(email));
