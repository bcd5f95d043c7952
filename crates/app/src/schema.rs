//! Documented string patterns of the values the server trims, for `schema_with`. JSON Schema's
//! `\s` is ECMA-262's, which is neither what `str::trim` takes away (ECMA adds U+FEFF and lacks
//! U+0085) nor Python's (the fuzzers' also has U+001C–U+001F), so the patterns spell out
//! Unicode's White_Space, exactly what `trim` and `char::is_whitespace` see.

use rollcall_domain::webhook::EventType;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};

/// One character `trim` takes away.
const SPACE: &str = r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
/// One character it keeps.
const TEXT: &str = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// `core` with any spaces around it.
fn spaced(core: &str) -> String {
    format!("^{SPACE}*{core}{SPACE}*$")
}

/// 1 to `max` characters once trimmed.
fn filled(max: usize) -> String {
    format!("{TEXT}([\\s\\S]{{0,{}}}{TEXT})?", max - 2)
}

fn string(pattern: String) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
}

/// The same, `null` allowed (an absent field of an edit).
fn nullable(pattern: String) -> Object {
    string(pattern)
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .build()
}

/// One character a name may start or end with: neither a space nor a control character.
const VISIBLE: &str = r"[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// A person's name (`domain::name`): 1 to 100 characters once trimmed, none of them a control
/// character.
fn one_line_name() -> String {
    let max = rollcall_domain::name::MAX_CHARS;
    spaced(&format!(
        "{VISIBLE}([^\\x00-\\x1f\\x7f-\\x9f]{{0,{}}}{VISIBLE})?",
        max - 2
    ))
}

/// A name of an edit (`null`: unchanged).
pub fn name() -> Object {
    nullable(one_line_name())
}

/// A name that must be given.
pub fn full_name() -> Object {
    string(one_line_name()).build()
}

/// A field of a roster: 1 to 200 characters once trimmed.
pub fn roster_field() -> Object {
    string(spaced(&filled(200))).build()
}

/// Text that is not blank.
pub fn not_blank() -> Object {
    string(TEXT.to_string()).build()
}

/// Optional text of at most 2,000 characters once trimmed (blank clears it).
pub fn long_text() -> Object {
    nullable(spaced(&format!("({})?", filled(2_000))))
}

/// Optional text of at most 40 characters once trimmed (blank clears it).
pub fn short_text() -> Object {
    nullable(spaced(&format!("({})?", filled(40))))
}

/// One of `words` (a regex alternation), or blank when `blank` allows it.
fn word(words: &str, blank: bool) -> String {
    spaced(&format!("({words}){}", if blank { "?" } else { "" }))
}

/// A user status, or blank (any).
pub fn status() -> Object {
    nullable(word(
        "pending|expired|active|inactive|blocked|disabled",
        true,
    ))
}

/// A sort of the user list, or blank (the default).
pub fn sort() -> Object {
    nullable(word("-?(created|name|email|username)", true))
}

/// An id (hyphenated or not), or blank (any).
pub fn id_or_blank() -> Object {
    let hex = "[0-9a-fA-F]";
    let id = format!("{hex}{{8}}(-{hex}{{4}}){{3}}-{hex}{{12}}|{hex}{{32}}");
    nullable(word(&id, true))
}

/// A token's owner.
pub fn owner() -> Object {
    string(word("organization|person", false)).build()
}

/// Whole numbers from 1 to 50 (appointments at once).
pub fn capacity() -> Object {
    nullable(word(r"\+?0*([1-9]|[1-4][0-9]|50)", false))
}

/// Minutes of a scheduling step.
pub fn scheduling_step() -> Object {
    nullable(word(r"\+?0*(5|10|15|20|30|45|60)", false))
}

/// 10 digits, the first 1 or 2 (spaces and dashes between them dropped), or blank (clears
/// it). The check digit is the server's to judge: no pattern can.
/// A leaving date: a date, or a date and time (a day a month does not have is refused), or blank.
pub fn leaving_date() -> Object {
    nullable(word(
        "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])([ T]([01][0-9]|2[0-3]):[0-5][0-9])?",
        true,
    ))
}

pub fn npi() -> Object {
    nullable(word("[ -]*[12]([ -]*[0-9]){9}[ -]*", true))
}

/// Items separated by commas or spaces, none or more.
fn list(item: &str, at_least_one: bool) -> String {
    let sep = format!("({SPACE}|,)");
    let items = format!("{item}({sep}+{item})*");
    let items = if at_least_one {
        items
    } else {
        format!("({items})?")
    };
    format!("^{sep}*{items}{sep}*$")
}

/// Taxonomy codes: nine letters or digits and an X each.
pub fn taxonomies() -> Object {
    nullable(list("[0-9A-Za-z]{9}[Xx]", false))
}

/// API token scopes, at least one.
pub fn scopes() -> Object {
    string(list("(users:read|users:write|tokens:write|scim)", true)).build()
}

/// An array of strings matching `item`; `min` items at least.
fn array(item: String, min: usize) -> Array {
    ArrayBuilder::new()
        .items(string(item))
        .min_items((min > 0).then_some(min))
        .build()
}

/// The OpenID Connect scopes an app may ask for, each one of them.
pub fn oidc_scopes() -> Array {
    array(word(&crate::oidc::clients::SCOPES.join("|"), false), 0)
}

/// Webhook event types: at least one item, each holding event types separated by commas or
/// spaces (`["user.deactivated", "user.invited"]` or `["user.deactivated, user.invited"]`).
pub fn event_types() -> Array {
    let keys: Vec<&str> = EventType::ALL.iter().map(|t| t.key()).collect();
    let one = format!("({})", keys.join("|").replace('.', "\\."));
    array(list(&one, true), 1)
}

/// The same, `null` allowed (an absent field of an edit).
pub fn event_types_or_null() -> Array {
    or_null(event_types())
}

/// A host name; its last label starts with a letter, so it is never read as an IPv4 address.
const HOST: &str =
    r"([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/// A port, if any.
const PORT: &str = r"(:[1-9][0-9]{0,3})?";

/// What follows the host: a path or query without spaces or a fragment.
fn path() -> String {
    format!("([/?][^#{}]{{0,1900}})?", &SPACE[1..SPACE.len() - 1])
}

/// https on a named host (whether it resolves is the server's to find out).
fn https_url() -> String {
    spaced(&format!("https://{HOST}{PORT}{}", path()))
}

/// A webhook endpoint's URL.
pub fn webhook_url() -> Object {
    string(https_url()).build()
}

/// The same, `null` allowed (an absent field of an edit).
pub fn webhook_url_or_null() -> Object {
    nullable(https_url())
}

/// A redirect URI of a sign-in app: https, or plain http to this machine.
fn redirect_uri() -> String {
    let local = r"http://(localhost|127\.0\.0\.1|\[::1\])";
    spaced(&format!("(https://{HOST}|{local}){PORT}{}", path()))
}

/// Where sign-ins return to: at least one.
pub fn redirect_uris() -> Array {
    array(redirect_uri(), 1)
}

/// Where an app may send people after signing out: none or more.
pub fn logout_uris() -> Array {
    array(redirect_uri(), 0)
}

/// 1 to `max` characters once trimmed, on one line.
fn one_line(max: usize) -> String {
    spaced(&format!("{TEXT}([^\\n\\r]{{0,{}}}{TEXT})?", max - 2))
}

/// A sign-in app's name.
pub fn app_name() -> Object {
    string(one_line(100)).build()
}

/// The same, `null` allowed (an absent field of an edit).
pub fn app_name_or_null() -> Object {
    nullable(one_line(100))
}

/// An array schema that also allows `null` (an absent field of an edit).
fn or_null(mut a: Array) -> Array {
    a.schema_type = SchemaType::from_iter([Type::Array, Type::Null]);
    a
}

/// Redirect URIs of an edit (`null`: unchanged; else at least one).
pub fn redirect_uris_or_null() -> Array {
    or_null(redirect_uris())
}

/// Addresses to return to after signing out, of an edit (`null`: unchanged).
pub fn logout_uris_or_null() -> Array {
    or_null(logout_uris())
}

/// Scopes of an edit (`null`: unchanged).
pub fn oidc_scopes_or_null() -> Array {
    or_null(oidc_scopes())
}

/// Blank (taken as absent, as forms send it), a date or an RFC 3339 time.
pub fn day_or_time() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, SchemaFormat};
    let format = |f| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(f)))
    };
    AnyOfBuilder::new()
        .item(string(spaced("")))
        .item(format(KnownFormat::Date))
        .item(format(KnownFormat::DateTime))
        .build()
        .into()
}

/// An optional whole number as JSON Schema counts one: `30.0` is the integer 30 (the fuzzers and
/// some JSON encoders send it so); `30.5` is refused.
pub fn whole<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::{Deserialize, Error};
    let Some(n) = Option::<f64>::deserialize(d)? else {
        return Ok(None);
    };
    let out_of_range = || D::Error::custom(format!("{n} is not a whole number in range"));
    if n.fract() != 0.0 || n.abs() > 9.0e15 {
        return Err(out_of_range());
    }
    T::try_from(n as i64).map(Some).map_err(|_| out_of_range())
}
