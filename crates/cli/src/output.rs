//! What a command prints on standard output: sentences for people, or one JSON document for
//! scripts. Both modes print the same shapes (the API's), so a script reads one format whether it
//! runs on the server or against it.

use std::io::Write;

use serde_json::Value;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

impl Output {
    pub fn json(self) -> bool {
        self == Output::Json
    }

    /// JSON when asked by `--output json` or a command's own `--json`.
    pub fn or_json(self, json: bool) -> Output {
        if json { Output::Json } else { self }
    }
}

/// The one JSON document of a command.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    emit(format_args!("{}", serde_json::to_string_pretty(value)?));
    Ok(())
}

/// One line on standard output. A reader that stopped early (`| head`) ends the command quietly
/// instead of a panic.
pub fn emit(line: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(line).and_then(|()| out.write_all(b"\n"))
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(0);
    }
}

/// A string field of an API object, or "" when absent.
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// One user of the list on one line: id, status, email, name, locations.
pub fn user_line(u: &Value) {
    let locations: Vec<&str> = u["locations"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    emit(format_args!(
        "{}  {:<9} {:<36} {:<28} {}",
        s(u, "id"),
        s(u, "status"),
        s(u, "email"),
        s(u, "name"),
        locations.join(", ")
    ));
}

/// A profile as a few lines a person reads: who, status, where, which roles.
pub fn profile(p: &Value) {
    let named = |key: &str, flag: &str| -> String {
        p[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x[flag].as_bool().unwrap_or(false))
                    .map(|x| s(x, "name"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    println!("{} <{}>", s(p, "display_name"), s(p, "email"));
    println!("  id:         {}", s(p, "id"));
    println!("  status:     {}", s(p, "status"));
    if let Some(t) = p["user_type_label"].as_str() {
        println!("  user type:  {t}");
    }
    println!("  locations:  {}", named("locations", "granted"));
    println!("  roles:      {}", named("roles", "member"));
    println!("  created:    {}", s(p, "created_at"));
    if let Some(at) = p["deactivated_at"].as_str() {
        println!("  deactivated at {at}");
    }
}

/// A token on one line, never its secret.
pub fn token_line(t: &Value) {
    let scopes: Vec<&str> = t["scopes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let or_never = |key: &str| t[key].as_str().unwrap_or("never").to_string();
    emit(format_args!(
        "{}  {:<8} {:<24} {:<30} expires {}  last used {}",
        s(t, "id"),
        s(t, "state"),
        s(t, "name"),
        scopes.join(" "),
        or_never("expires_at"),
        or_never("last_used_at"),
    ));
}

/// A token just made or rotated: its line, then its secret alone on stdout (for `$(…)`).
pub fn issued(issued: &Value, out: Output) -> anyhow::Result<()> {
    if out.json() {
        return print_json(issued);
    }
    token_line(&issued["token"]);
    println!("{}", s(issued, "secret"));
    eprintln!("Copy the secret now: it is not shown again.");
    Ok(())
}
