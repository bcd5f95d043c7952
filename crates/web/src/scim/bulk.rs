//! /Bulk (RFC 7644 §3.7): many creations, changes and deletions of users and groups in one
//! request. Each operation is made by the function its single-resource request calls, so it
//! passes the same onboarding writer, rule engine and seat check and is audited as the token.
//! Consecutive plain creations of users (no bulkId references) are made together: checked as a
//! set and written in one transaction, each still with its own outcome (see
//! `provisioning::create_users`); a single `POST /Users` is the same call for one person.
//!
//! Operations run one after the other in the order sent, except that one naming `bulkId:x` (in
//! its path or anywhere in its data) runs after the operation that creates x. A reference to no
//! creation of the request, to a creation that failed, or in a circle is an error of that
//! operation (`invalidValue`). `failOnErrors: N` stops after the N-th error; operations not run
//! are left out of the response. A request over `MAX_OPERATIONS` operations or
//! `MAX_PAYLOAD_SIZE` bytes is refused whole (413) and changes nothing.

use std::collections::{HashMap, HashSet};

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::provisioning::UserState;
use serde_json::{Value, json};

use super::errors::{Outcome, ScimError};
use super::filter::member;
use super::resources::{user_state, version_of};
use super::{ScimCaller, answer, base, check_media, groups, users};

pub const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// Most operations one request takes.
pub const MAX_OPERATIONS: usize = 1000;
/// Largest request body, in bytes (1 MiB).
pub const MAX_PAYLOAD_SIZE: usize = 1024 * 1024;

/// How a value names the resource another operation of the request creates.
const REFERENCE: &str = "bulkId:";

pub async fn bulk(
    State(app): State<App>,
    caller: ScimCaller,
    req: Request,
) -> Result<Response, ScimError> {
    check_media(req.headers())?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_PAYLOAD_SIZE) {
        return Err(payload_too_large());
    }
    let bytes = to_bytes(req.into_body(), MAX_PAYLOAD_SIZE)
        .await
        .map_err(|_| payload_too_large())?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("The body is not valid JSON: {e}.")))?;
    let request = BulkRequest::read(&body)?;
    let ran = run(&app, &caller, &request).await;
    let mut r = answer(
        StatusCode::OK,
        json!({"schemas": [BULK_RESPONSE], "Operations": ran.results}),
    );
    if let Some(first) = ran.first_error {
        let stopped = if ran.results.len() < request.operations.len() {
            format!(
                "; stopped after {} error(s) as failOnErrors asks, {} operation(s) not run",
                ran.errors,
                request.operations.len() - ran.results.len()
            )
        } else {
            String::new()
        };
        r.extensions_mut().insert(Outcome(format!(
            "{} of {} bulk operations failed{stopped}; the first: {first}",
            ran.errors,
            request.operations.len(),
        )));
    }
    Ok(r)
}

fn payload_too_large() -> ScimError {
    ScimError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        format!(
            "The bulk request is larger than maxPayloadSize ({MAX_PAYLOAD_SIZE} bytes, see /ServiceProviderConfig): nothing was changed. Split the operations into several /Bulk requests of at most {MAX_PAYLOAD_SIZE} bytes and {MAX_OPERATIONS} operations each."
        ),
    )
}

fn too_many_operations(count: usize) -> ScimError {
    ScimError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        None,
        format!(
            "The bulk request has {count} operations, more than maxOperations ({MAX_OPERATIONS}, see /ServiceProviderConfig): nothing was changed. Split it into {} /Bulk requests of at most {MAX_OPERATIONS} operations each.",
            count.div_ceil(MAX_OPERATIONS)
        ),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    Users,
    Groups,
}

/// One operation as sent; what is wrong with it is found when it runs, and is its error.
struct Operation {
    /// As sent, upper-cased for the response.
    method_text: String,
    method: Option<Method>,
    bulk_id: Option<String>,
    path: Option<String>,
    data: Option<Value>,
    version: Option<String>,
}

struct BulkRequest {
    operations: Vec<Operation>,
    fail_on_errors: Option<usize>,
}

fn text_of(op: &Value, key: &str) -> Option<String> {
    member(op, key).and_then(Value::as_str).map(str::to_string)
}

impl BulkRequest {
    fn read(body: &Value) -> Result<BulkRequest, ScimError> {
        let ops = member(body, "Operations")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ScimError::invalid_syntax(
                    "A bulk body is {\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:BulkRequest\"], \"Operations\": [{\"method\": \"POST\", \"path\": \"/Users\", \"bulkId\": \"…\", \"data\": {…}}]}: it has no Operations list.",
                )
            })?;
        if ops.len() > MAX_OPERATIONS {
            return Err(too_many_operations(ops.len()));
        }
        let fail_on_errors = match member(body, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => {
                    return Err(ScimError::invalid_value(format!(
                        "failOnErrors must be a whole number of 1 or more (the number of errors after which the remaining operations are not run), not {v}."
                    )));
                }
            },
        };
        let operations = ops
            .iter()
            .map(|op| {
                let method_text = text_of(op, "method")
                    .unwrap_or_default()
                    .to_ascii_uppercase();
                let method = match method_text.as_str() {
                    "POST" => Some(Method::Post),
                    "PUT" => Some(Method::Put),
                    "PATCH" => Some(Method::Patch),
                    "DELETE" => Some(Method::Delete),
                    _ => None,
                };
                Operation {
                    method_text,
                    method,
                    bulk_id: text_of(op, "bulkId"),
                    path: text_of(op, "path"),
                    data: member(op, "data").filter(|d| !d.is_null()).cloned(),
                    version: text_of(op, "version"),
                }
            })
            .collect();
        Ok(BulkRequest {
            operations,
            fail_on_errors,
        })
    }
}

/// The `bulkId`s a value names, anywhere in it.
fn references(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(REFERENCE) {
                out.insert(id.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        Value::Object(map) => map.values().for_each(|i| references(i, out)),
        _ => {}
    }
}

impl Operation {
    fn references(&self) -> HashSet<String> {
        let mut out = HashSet::new();
        if let Some(p) = &self.path {
            for segment in p.split('/') {
                references(&Value::String(segment.to_string()), &mut out);
            }
        }
        if let Some(d) = &self.data {
            references(d, &mut out);
        }
        out
    }
}

/// The order operations run in: as sent, except that an operation comes after the creations
/// it names. Operations in a circle of references (or naming their own bulkId) are returned
/// apart: each is an error.
fn plan(ops: &[Operation], creators: &HashMap<&str, usize>) -> (Vec<usize>, HashSet<usize>) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    struct Walk {
        needs: Vec<Vec<usize>>,
        marks: Vec<Mark>,
        path: Vec<usize>,
        order: Vec<usize>,
        circular: HashSet<usize>,
    }
    impl Walk {
        fn visit(&mut self, i: usize) {
            match self.marks[i] {
                Mark::Done => return,
                Mark::OnPath => {
                    let from = self.path.iter().position(|&p| p == i).unwrap_or(0);
                    self.circular.extend(self.path[from..].iter().copied());
                    return;
                }
                Mark::New => {}
            }
            self.marks[i] = Mark::OnPath;
            self.path.push(i);
            for j in self.needs[i].clone() {
                self.visit(j);
            }
            self.path.pop();
            self.marks[i] = Mark::Done;
            self.order.push(i);
        }
    }
    let needs = ops
        .iter()
        .map(|op| {
            let mut needs: Vec<usize> = op
                .references()
                .iter()
                .filter_map(|r| creators.get(r.as_str()).copied())
                .collect();
            needs.sort_unstable();
            needs
        })
        .collect();
    let mut walk = Walk {
        needs,
        marks: vec![Mark::New; ops.len()],
        path: Vec::new(),
        order: Vec::with_capacity(ops.len()),
        circular: HashSet::new(),
    };
    for i in 0..ops.len() {
        walk.visit(i);
    }
    (walk.order, walk.circular)
}

/// What a request did: the response's operations, in the order they ran.
struct Ran {
    results: Vec<Value>,
    errors: usize,
    first_error: Option<String>,
    /// The ids the request's creations were given, by bulkId.
    created: HashMap<String, String>,
}

impl Ran {
    /// Whether `failOnErrors` stops the request here.
    fn stopped(&self, fail_on_errors: Option<usize>) -> bool {
        fail_on_errors.is_some_and(|n| self.errors >= n)
    }

    /// The operation's entry in the response. `error_location` is where the resource a failed
    /// change names is.
    fn record(
        &mut self,
        op: &Operation,
        outcome: Result<Done, ScimError>,
        error_location: Option<String>,
    ) {
        let mut entry = json!({"method": op.method_text});
        if let Some(b) = &op.bulk_id {
            entry["bulkId"] = json!(b);
        }
        match outcome {
            Ok(done) => {
                if op.method == Some(Method::Post)
                    && let (Some(b), Some(id)) = (&op.bulk_id, &done.id)
                {
                    self.created.insert(b.clone(), id.clone());
                }
                if let Some(l) = done.location {
                    entry["location"] = json!(l);
                }
                if let Some(v) = done.version {
                    entry["version"] = json!(v);
                }
                entry["status"] = json!(done.status.as_u16().to_string());
            }
            Err(e) => {
                if let Some(l) = error_location {
                    entry["location"] = json!(l);
                }
                entry["status"] = json!(e.status.as_u16().to_string());
                entry["response"] = e.body();
                self.errors += 1;
                self.first_error.get_or_insert_with(|| e.outcome());
            }
        }
        self.results.push(entry);
    }
}

async fn run(app: &App, caller: &ScimCaller, request: &BulkRequest) -> Ran {
    let ops = &request.operations;
    let mut creators: HashMap<&str, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.method == Some(Method::Post)
            && let Some(b) = op.bulk_id.as_deref()
        {
            creators.entry(b).or_insert(i);
        }
    }
    let (order, circular) = plan(ops, &creators);
    let mut ran = Ran {
        results: Vec::with_capacity(ops.len()),
        errors: 0,
        first_error: None,
        created: HashMap::new(),
    };
    // Consecutive plain creations of users wait to be made together (one check of the set,
    // one transaction); any other operation makes them first, so the order sent still holds.
    let mut creations: Vec<(usize, UserState)> = Vec::new();
    for i in order {
        if let Some(state) = plain_user_creation(&ops[i], i, &creators) {
            creations.push((i, state));
            continue;
        }
        create_together(
            app,
            caller,
            request,
            std::mem::take(&mut creations),
            &mut ran,
        )
        .await;
        if ran.stopped(request.fail_on_errors) {
            break;
        }
        let refs = Refs {
            creators: &creators,
            created: &ran.created,
        };
        let outcome = if circular.contains(&i) {
            Err(circle(&ops[i], &creators, &circular))
        } else {
            one(app, caller, &ops[i], i, &refs).await
        };
        let error_location = error_location(app, &ops[i], &refs);
        ran.record(&ops[i], outcome, error_location);
        if ran.stopped(request.fail_on_errors) {
            break;
        }
    }
    create_together(app, caller, request, creations, &mut ran).await;
    ran
}

/// The user a POST /Users creates, when it can be made together with its neighbours: its
/// data reads as a user, it names no other operation's bulkId (whose id would be known only
/// once that one is made) and its own bulkId is its alone. Any other operation, and a
/// creation whose data does not read, runs alone and gets its error there.
fn plain_user_creation(
    op: &Operation,
    index: usize,
    creators: &HashMap<&str, usize>,
) -> Option<UserState> {
    let own_bulk_id = op
        .bulk_id
        .as_deref()
        .is_none_or(|b| creators.get(b) == Some(&index));
    let creates_user = matches!(
        op.path.as_deref().map(target),
        Some(Ok((Resource::Users, None)))
    );
    if op.method != Some(Method::Post) || !creates_user || !own_bulk_id {
        return None;
    }
    let data = op.data.as_ref().filter(|d| d.is_object())?;
    if !op.references().is_empty() {
        return None;
    }
    user_state(data).ok()
}

/// Makes a run of plain user creations together and records each one's outcome; after the
/// errors `failOnErrors` allows, the rest are not made and not reported.
async fn create_together(
    app: &App,
    caller: &ScimCaller,
    request: &BulkRequest,
    creations: Vec<(usize, UserState)>,
    ran: &mut Ran,
) {
    if creations.is_empty() || ran.stopped(request.fail_on_errors) {
        return;
    }
    let (indexes, states): (Vec<usize>, Vec<UserState>) = creations.into_iter().unzip();
    let stop_after = request.fail_on_errors.map(|n| n.saturating_sub(ran.errors));
    let outcomes = users::created_together(app, caller, &states, stop_after).await;
    for (i, outcome) in indexes.into_iter().zip(outcomes) {
        let done = outcome.map(|user| Done::of(&user, StatusCode::CREATED));
        ran.record(&request.operations[i], done, None);
    }
}

/// Where the resource a change names is, for its entry when it fails: a change of a resource
/// that exists says where it is.
fn error_location(app: &App, op: &Operation, refs: &Refs<'_>) -> Option<String> {
    let path = refs.path(op.path.as_deref()?).ok()?;
    let is_change = op.method.is_some_and(|m| m != Method::Post);
    match target(&path) {
        Ok((_, Some(_))) if is_change => {
            Some(format!("{}/{}", base(app), path.trim_start_matches('/')))
        }
        _ => None,
    }
}

/// The error of an operation in a circle of references.
fn circle(op: &Operation, creators: &HashMap<&str, usize>, circular: &HashSet<usize>) -> ScimError {
    let mut names: Vec<String> = op
        .references()
        .into_iter()
        .filter(|r| {
            creators
                .get(r.as_str())
                .is_some_and(|c| circular.contains(c))
        })
        .map(|r| format!("{REFERENCE}{r}"))
        .collect();
    names.sort();
    let own = op
        .bulk_id
        .as_deref()
        .map(|b| format!(" (itself {REFERENCE}{b})"))
        .unwrap_or_default();
    ScimError::invalid_value(format!(
        "This operation{own} names {} in a circle of references: each waits for the other to be created. Create the resources without the reference, then add it with a PATCH.",
        names.join(", ")
    ))
}

/// The ids the request's creations were given so far, to put in place of `bulkId:x`.
struct Refs<'a> {
    creators: &'a HashMap<&'a str, usize>,
    created: &'a HashMap<String, String>,
}

impl Refs<'_> {
    fn id(&self, bulk_id: &str) -> Result<String, ScimError> {
        if let Some(id) = self.created.get(bulk_id) {
            return Ok(id.clone());
        }
        Err(ScimError::invalid_value(
            if self.creators.contains_key(bulk_id) {
                format!(
                    "{REFERENCE}{bulk_id} names a resource whose creation in this request failed, so this operation was not made: fix that operation and send both again."
                )
            } else {
                format!(
                    "{REFERENCE}{bulk_id} names no POST operation of this request: give the creation of that resource \"bulkId\": \"{bulk_id}\", or name an existing resource by its id."
                )
            },
        ))
    }

    fn path(&self, path: &str) -> Result<String, ScimError> {
        path.split('/')
            .map(|s| match s.strip_prefix(REFERENCE) {
                Some(b) => self.id(b),
                None => Ok(s.to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|s| s.join("/"))
    }

    fn data(&self, v: &Value) -> Result<Value, ScimError> {
        Ok(match v {
            Value::String(s) => match s.strip_prefix(REFERENCE) {
                Some(b) => Value::String(self.id(b)?),
                None => v.clone(),
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.data(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, i)| Ok((k.clone(), self.data(i)?)))
                    .collect::<Result<_, ScimError>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// The resource type and id a path names: `/Users`, `/Groups/{id}`, …
fn target(path: &str) -> Result<(Resource, Option<&str>), ScimError> {
    let trimmed = path.trim().trim_start_matches('/');
    let (kind, id) = match trimmed.split_once('/') {
        Some((k, id)) => (k, Some(id)),
        None => (trimmed, None),
    };
    let resource = if kind.eq_ignore_ascii_case("Users") {
        Resource::Users
    } else if kind.eq_ignore_ascii_case("Groups") {
        Resource::Groups
    } else {
        return Err(bad_path(path));
    };
    match id {
        Some(id) if id.is_empty() || id.contains('/') => Err(bad_path(path)),
        id => Ok((resource, id)),
    }
}

fn bad_path(path: &str) -> ScimError {
    ScimError::invalid_path(format!(
        "The path “{path}” names no resource: POST to /Users or /Groups; PUT, PATCH or DELETE /Users/{{id}} or /Groups/{{id}}."
    ))
}

/// What a successful operation tells the client.
struct Done {
    id: Option<String>,
    location: Option<String>,
    version: Option<String>,
    status: StatusCode,
}

impl Done {
    fn of(resource: &Value, status: StatusCode) -> Done {
        let text = |p: &str| {
            resource
                .pointer(p)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Done {
            id: text("/id"),
            location: text("/meta/location"),
            version: text("/meta/version"),
            status,
        }
    }
}

/// Runs one operation through the function its single-resource request calls.
async fn one(
    app: &App,
    caller: &ScimCaller,
    op: &Operation,
    index: usize,
    refs: &Refs<'_>,
) -> Result<Done, ScimError> {
    let method = op.method.ok_or_else(|| {
        ScimError::invalid_syntax(format!(
            "Operation {} has method “{}”: use POST, PUT, PATCH or DELETE.",
            index + 1,
            op.method_text
        ))
    })?;
    if method == Method::Post
        && let Some(b) = op.bulk_id.as_deref()
        && refs.creators.get(b) != Some(&index)
    {
        return Err(ScimError::invalid_value(format!(
            "bulkId “{b}” is given to an earlier POST of this request too: give each creation its own bulkId."
        )));
    }
    let raw_path = op.path.as_deref().ok_or_else(|| {
        ScimError::invalid_syntax(format!(
            "Operation {} has no path: POST to /Users or /Groups; PUT, PATCH or DELETE /Users/{{id}} or /Groups/{{id}}.",
            index + 1
        ))
    })?;
    let path = refs.path(raw_path)?;
    let (resource, id) = target(&path)?;
    let data = match (&op.data, method) {
        (_, Method::Delete) => Value::Null,
        (Some(d), _) if d.is_object() => refs.data(d)?,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "Operation {} ({} {raw_path}) needs data: the resource, or the PatchOp body for a PATCH, as a JSON object.",
                index + 1,
                op.method_text
            )));
        }
    };
    let expected = op.version.as_deref().and_then(version_of);
    let expected = expected.as_deref();
    match (method, id) {
        (Method::Post, None) => {
            let created = match resource {
                Resource::Users => users::created(app, caller, &data).await?,
                Resource::Groups => groups::created(app, caller, &data).await?,
            };
            Ok(Done::of(&created, StatusCode::CREATED))
        }
        (Method::Put, Some(id)) => {
            let saved = match resource {
                Resource::Users => users::replaced(app, caller, id, &data, expected).await?,
                Resource::Groups => groups::replaced(app, caller, id, &data, expected).await?,
            };
            Ok(Done::of(&saved, StatusCode::OK))
        }
        (Method::Patch, Some(id)) => {
            let saved = match resource {
                Resource::Users => users::patched(app, caller, id, &data, expected).await?,
                Resource::Groups => groups::patched(app, caller, id, &data, expected).await?,
            };
            Ok(Done::of(&saved, StatusCode::OK))
        }
        (Method::Delete, Some(id)) => {
            match resource {
                Resource::Users => users::deleted(app, caller, id).await?,
                Resource::Groups => groups::deleted(app, caller, id).await?,
            }
            Ok(Done {
                id: Some(id.to_string()),
                location: Some(format!("{}/{}", base(app), path.trim_start_matches('/'))),
                version: None,
                status: StatusCode::NO_CONTENT,
            })
        }
        _ => Err(bad_path(raw_path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, bulk_id: Option<&str>, path: &str, data: Value) -> Operation {
        Operation {
            method_text: method.into(),
            method: match method {
                "POST" => Some(Method::Post),
                "PATCH" => Some(Method::Patch),
                _ => None,
            },
            bulk_id: bulk_id.map(str::to_string),
            path: Some(path.into()),
            data: Some(data),
            version: None,
        }
    }

    fn creators(ops: &[Operation]) -> HashMap<&str, usize> {
        ops.iter()
            .enumerate()
            .filter_map(|(i, o)| o.bulk_id.as_deref().map(|b| (b, i)))
            .collect()
    }

    #[test]
    fn a_reference_runs_after_its_creation_and_circles_are_found() {
        let ops = vec![
            op(
                "POST",
                Some("g"),
                "/Groups",
                json!({"members": [{"value": "bulkId:a"}]}),
            ),
            op("POST", Some("a"), "/Users", json!({"userName": "a"})),
            op("PATCH", None, "/Users/bulkId:a", json!({})),
            op(
                "POST",
                Some("x"),
                "/Users",
                json!({"manager": {"value": "bulkId:y"}}),
            ),
            op(
                "POST",
                Some("y"),
                "/Users",
                json!({"manager": {"value": "bulkId:x"}}),
            ),
        ];
        let (order, circular) = plan(&ops, &creators(&ops));
        assert_eq!(order, [1, 0, 2, 4, 3]);
        assert_eq!(circular, HashSet::from([3, 4]));
    }

    #[test]
    fn paths_name_users_and_groups() {
        assert_eq!(target("/Users").unwrap(), (Resource::Users, None));
        assert_eq!(
            target("groups/abc").unwrap(),
            (Resource::Groups, Some("abc"))
        );
        assert!(target("/Roles").is_err());
        assert!(target("/Users/a/b").is_err());
    }
}
