//! SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): a small recursive-descent parser
//! and an evaluator over a resource as JSON. `not` binds tighter than `and`, which binds
//! tighter than `or`; keywords and attribute names are read without regard to case; string
//! comparisons ignore case except for `id` and `externalId` (caseExact in RFC 7643); `gt`,
//! `ge`, `lt` and `le` compare RFC 3339 times as instants.

use serde_json::Value;

use super::errors::ScimError;
use super::resources::CORE_USER;

/// An attribute named in a filter or path: `[urn:…:]name[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// An extension's schema URN; `None` for core attributes (a core URN prefix is dropped).
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Reads `[urn:…:]name[.sub]`.
    pub fn parse(text: &str) -> Result<AttrPath, String> {
        let (urn, rest) = match text.to_ascii_lowercase().starts_with("urn:") {
            true => match text.rfind(':') {
                Some(i) => (Some(&text[..i]), &text[i + 1..]),
                None => (None, text),
            },
            false => (None, text),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let valid = |s: &str| {
            s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
        };
        if !valid(name) || sub.is_some_and(|s| !valid(s)) {
            return Err(format!(
                "“{text}” is not an attribute path (name, name.sub or urn:…:name)."
            ));
        }
        let urn = urn.filter(|u| {
            !u.eq_ignore_ascii_case(CORE_USER)
                && !u.eq_ignore_ascii_case(super::resources::CORE_GROUP)
        });
        Ok(AttrPath {
            urn: urn.map(str::to_string),
            name: name.to_string(),
            sub: sub.map(str::to_string),
        })
    }

    /// Whether string values of this attribute compare with case (RFC 7643: `id` and
    /// `externalId` are caseExact).
    fn case_exact(&self) -> bool {
        self.urn.is_none()
            && self.sub.is_none()
            && (self.name.eq_ignore_ascii_case("id")
                || self.name.eq_ignore_ascii_case("externalId"))
    }

    /// The attribute as a dotted name, for messages and for sorting.
    pub fn dotted(&self) -> String {
        let mut s = String::new();
        if let Some(u) = &self.urn {
            s.push_str(u);
            s.push(':');
        }
        s.push_str(&self.name);
        if let Some(sub) = &self.sub {
            s.push('.');
            s.push_str(sub);
        }
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<CompareOp> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]`: some value of a multi-valued attribute matches the inner filter.
    Within(AttrPath, Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Literal(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1
            }
            ')' => {
                out.push(Token::Close);
                i += 1
            }
            '[' => {
                out.push(Token::OpenBracket);
                i += 1
            }
            ']' => {
                out.push(Token::CloseBracket);
                i += 1
            }
            '"' => {
                // A JSON string: escapes as JSON has them.
                let start = i;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                if i >= chars.len() {
                    return Err("A quoted value is not closed: end it with \".".into());
                }
                i += 1;
                let raw: String = chars[start..i].iter().collect();
                let s: String = serde_json::from_str(&raw)
                    .map_err(|_| format!("{raw} is not a valid quoted value."))?;
                out.push(Token::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | '[' | ']' | '"')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let literal = match word.to_ascii_lowercase().as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    "null" => Some(Value::Null),
                    _ => serde_json::from_str::<serde_json::Number>(&word)
                        .ok()
                        .map(Value::Number),
                };
                out.push(match literal {
                    Some(v) => Token::Literal(v),
                    None => Token::Word(word),
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") {
            self.at += 1;
            if self.peek() != Some(&Token::Open) {
                return Err("“not” takes a filter in parentheses: not (…).".into());
            }
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err("A parenthesis is not closed: add “)”.".into());
            }
            return Ok(inner);
        }
        self.attribute_expression()
    }

    fn attribute_expression(&mut self) -> Result<Filter, String> {
        let path = match self.next() {
            Some(Token::Word(w)) => AttrPath::parse(&w)?,
            Some(other) => {
                return Err(format!(
                    "Expected an attribute name, found {}.",
                    shown(&other)
                ));
            }
            None => return Err("The filter ends where an attribute name was expected.".into()),
        };
        if self.peek() == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::CloseBracket) {
                return Err(format!(
                    "The value filter of {} is not closed: add “]”.",
                    path.name
                ));
            }
            // `emails[type eq "work"].value eq "x"`: the sub-attribute compared within.
            if let Some(Token::Word(w)) = self.peek().cloned()
                && let Some(sub) = w.strip_prefix('.')
            {
                self.at += 1;
                let sub_path = AttrPath::parse(sub)?;
                let rest = self.comparison(sub_path)?;
                return Ok(Filter::Within(
                    path,
                    Box::new(Filter::And(Box::new(inner), Box::new(rest))),
                ));
            }
            return Ok(Filter::Within(path, Box::new(inner)));
        }
        self.comparison(path)
    }

    fn comparison(&mut self, path: AttrPath) -> Result<Filter, String> {
        let word = match self.next() {
            Some(Token::Word(w)) => w,
            _ => {
                return Err(format!(
                    "{} needs an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr).",
                    path.dotted()
                ));
            }
        };
        if word.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(&word).ok_or_else(|| {
            format!("“{word}” is not an operator: use eq, ne, co, sw, ew, gt, ge, lt, le or pr.")
        })?;
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Literal(v)) => v,
            _ => {
                return Err(format!(
                    "{} {word} needs a value: a quoted string, a number, true, false or null.",
                    path.dotted()
                ));
            }
        };
        if matches!(value, Value::Bool(_) | Value::Null)
            && !matches!(op, CompareOp::Eq | CompareOp::Ne)
        {
            return Err(format!(
                "{} can only be compared with eq or ne when the value is {value}.",
                path.dotted()
            ));
        }
        Ok(Filter::Compare(path, op, value))
    }
}

fn shown(t: &Token) -> String {
    match t {
        Token::Word(w) => format!("“{w}”"),
        Token::Str(s) => format!("\"{s}\""),
        Token::Literal(v) => v.to_string(),
        Token::Open => "“(”".into(),
        Token::Close => "“)”".into(),
        Token::OpenBracket => "“[”".into(),
        Token::CloseBracket => "“]”".into(),
    }
}

/// Parses a filter; the error says where it went wrong and how to write it.
pub fn parse(text: &str) -> Result<Filter, ScimError> {
    parse_text(text)
        .map_err(|m| ScimError::invalid_filter(format!("The filter “{text}” is not valid: {m}")))
}

fn parse_text(text: &str) -> Result<Filter, String> {
    let mut p = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    if p.tokens.is_empty() {
        return Err("it is empty.".into());
    }
    let f = p.or()?;
    match p.next() {
        None => Ok(f),
        Some(t) => Err(format!(
            "unexpected {} after a complete filter (join filters with and / or).",
            shown(&t)
        )),
    }
}

/// A PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`, with an optional
/// schema URN before the attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter.
    pub sub: Option<String>,
}

pub fn parse_path(text: &str) -> Result<PatchPath, ScimError> {
    // An extension's URN alone names the extension's whole object.
    if let Some(urn) = super::resources::EXTENSIONS
        .iter()
        .find(|u| u.eq_ignore_ascii_case(text.trim()))
    {
        return Ok(PatchPath {
            attr: AttrPath {
                urn: None,
                name: urn.to_string(),
                sub: None,
            },
            filter: None,
            sub: None,
        });
    }
    let bad = |m: String| ScimError::invalid_path(format!("The path “{text}” is not valid: {m}"));
    let Some(open) = text.find('[') else {
        return Ok(PatchPath {
            attr: AttrPath::parse(text.trim()).map_err(bad)?,
            filter: None,
            sub: None,
        });
    };
    let close = text
        .rfind(']')
        .ok_or_else(|| bad("the value filter is not closed: add “]”.".into()))?;
    let attr = AttrPath::parse(text[..open].trim()).map_err(bad)?;
    let filter = parse_text(&text[open + 1..close]).map_err(bad)?;
    let rest = text[close + 1..].trim();
    let sub = match rest.strip_prefix('.') {
        Some(s) if !s.is_empty() => Some(s.to_string()),
        None if rest.is_empty() => None,
        _ => {
            return Err(bad(format!(
                "“{rest}” after the value filter should be .subAttribute."
            )));
        }
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
}

/// The object member named `key`, found without regard to case.
pub fn member<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Every value an attribute path names in a resource (multi-valued attributes flattened).
pub fn values<'a>(resource: &'a Value, path: &AttrPath) -> Vec<&'a Value> {
    let holder = match &path.urn {
        Some(urn) => match member(resource, urn) {
            Some(h) => h,
            None => return Vec::new(),
        },
        None => resource,
    };
    let Some(top) = member(holder, &path.name) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match top {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    match &path.sub {
        Some(sub) => items.into_iter().filter_map(|i| member(i, sub)).collect(),
        // A complex multi-valued attribute compares by its `value`.
        None => items
            .into_iter()
            .map(|i| {
                if i.is_object() {
                    member(i, "value").unwrap_or(i)
                } else {
                    i
                }
            })
            .collect(),
    }
}

/// Whether a resource (or one value of a multi-valued attribute) matches the filter.
pub fn matches(resource: &Value, filter: &Filter) -> bool {
    match filter {
        Filter::And(a, b) => matches(resource, a) && matches(resource, b),
        Filter::Or(a, b) => matches(resource, a) || matches(resource, b),
        Filter::Not(f) => !matches(resource, f),
        Filter::Present(p) => values(resource, p).into_iter().any(|v| {
            !v.is_null() && v != &Value::String(String::new()) && v != &Value::Array(vec![])
        }),
        Filter::Compare(p, CompareOp::Ne, v) => !matches(
            resource,
            &Filter::Compare(p.clone(), CompareOp::Eq, v.clone()),
        ),
        Filter::Compare(p, op, v) => {
            let found = values(resource, p);
            if v.is_null() {
                return found.iter().all(|f| f.is_null());
            }
            found
                .into_iter()
                .any(|f| compare(f, *op, v, p.case_exact()))
        }
        Filter::Within(p, inner) => {
            let holder = match &p.urn {
                Some(urn) => member(resource, urn),
                None => Some(resource),
            };
            match holder.and_then(|h| member(h, &p.name)) {
                Some(Value::Array(items)) => items.iter().any(|i| matches(i, inner)),
                Some(v @ Value::Object(_)) => matches(v, inner),
                _ => false,
            }
        }
    }
}

fn compare(found: &Value, op: CompareOp, want: &Value, case_exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (found, want) {
        (Value::String(a), Value::String(b)) => {
            match (a.parse::<jiff::Timestamp>(), b.parse::<jiff::Timestamp>()) {
                (Ok(x), Ok(y)) if !matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew) => {
                    Some(x.cmp(&y))
                }
                _ => {
                    let (a, b) = fold(a, b, case_exact);
                    return match op {
                        CompareOp::Co => a.contains(&b),
                        CompareOp::Sw => a.starts_with(&b),
                        CompareOp::Ew => a.ends_with(&b),
                        _ => ordered(a.cmp(&b), op),
                    };
                }
            }
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        // Booleans sent as strings ("True") by some providers.
        (Value::Bool(a), Value::String(b)) => b
            .parse::<bool>()
            .ok()
            .or_else(|| match b.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            })
            .map(|b| a.cmp(&b)),
        _ => None,
    };
    ordering.is_some_and(|o| ordered(o, op))
}

fn fold(a: &str, b: &str, case_exact: bool) -> (String, String) {
    if case_exact {
        (a.to_string(), b.to_string())
    } else {
        (a.to_lowercase(), b.to_lowercase())
    }
}

fn ordered(o: std::cmp::Ordering, op: CompareOp) -> bool {
    use std::cmp::Ordering::*;
    match op {
        CompareOp::Eq => o == Equal,
        CompareOp::Ne => o != Equal,
        CompareOp::Gt => o == Greater,
        CompareOp::Ge => o != Less,
        CompareOp::Lt => o == Less,
        CompareOp::Le => o != Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => o == Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "AbC",
            "userName": "Kim.Lee@Clinic.example",
            "active": true,
            "name": {"givenName": "Kim", "familyName": "Lee"},
            "emails": [{"value": "kim.lee@clinic.example", "type": "work", "primary": true},
                       {"value": "kim@home.example", "type": "home"}],
            "meta": {"created": "2026-11-01T10:00:00Z", "lastModified": "2026-11-20T10:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Front desk"}
        })
    }

    fn yes(f: &str) -> bool {
        matches(&user(), &parse(f).unwrap())
    }

    #[test]
    fn user_name_compares_without_case_and_id_with_it() {
        assert!(yes(r#"userName eq "kim.lee@clinic.EXAMPLE""#));
        assert!(yes(r#"USERNAME Eq "KIM.LEE@clinic.example""#));
        assert!(!yes(r#"id eq "abc""#));
        assert!(yes(r#"id eq "AbC""#));
        assert!(yes(r#"userName ne "someone@else.example""#));
    }

    #[test]
    fn every_operator_and_logic() {
        assert!(yes(
            r#"userName sw "kim" and userName ew ".example" and userName co "@clinic""#
        ));
        assert!(yes(
            r#"name.familyName eq "nobody" or name.givenName eq "kim""#
        ));
        assert!(yes(r#"not (name.givenName eq "Sam")"#));
        assert!(yes(
            r#"(name.givenName eq "Sam" or name.givenName eq "Kim") and active eq true"#
        ));
        assert!(!yes(
            r#"name.givenName eq "Sam" or name.givenName eq "Kim" and active eq false"#
        ));
        assert!(yes("title pr or userName pr"));
        assert!(!yes("title pr"));
    }

    #[test]
    fn dates_compare_as_instants() {
        assert!(yes(r#"meta.lastModified gt "2026-11-19T23:00:00-05:00""#));
        assert!(yes(r#"meta.created le "2026-11-01T10:00:00Z""#));
        assert!(!yes(r#"meta.created lt "2026-11-01T10:00:00.000Z""#));
    }

    #[test]
    fn value_paths_and_extensions() {
        assert!(yes(r#"emails[type eq "work" and value co "clinic"]"#));
        assert!(!yes(r#"emails[type eq "home" and value co "clinic"]"#));
        assert!(yes(
            r#"emails[type eq "work"].value eq "KIM.LEE@clinic.example""#
        ));
        assert!(yes(r#"emails co "home.example""#));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "front desk""#
        ));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "kim.lee@clinic.example""#
        ));
    }

    #[test]
    fn mistakes_are_explained() {
        for bad in [
            "",
            "userName",
            r#"userName eq"#,
            r#"userName equals "x""#,
            r#"userName eq "x" extra"#,
            r#"(userName eq "x""#,
            r#"emails[type eq "work""#,
            r#"active gt true"#,
            r#"userName eq "unterminated"#,
            "not userName pr",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.scim_type, Some("invalidFilter"), "{bad}");
            assert!(e.detail.contains("not valid"), "{bad}: {}", e.detail);
        }
    }

    #[test]
    fn patch_paths() {
        let p = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr.name, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        let p = parse_path(r#"members[value eq "2819c223"]"#).unwrap();
        assert!(p.filter.is_some() && p.sub.is_none());
        let p =
            parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value")
                .unwrap();
        assert_eq!(
            p.attr.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.attr.sub.as_deref(), Some("value"));
        assert!(parse_path("emails[type eq").is_err());
    }
}
