//! How a command ends for a script: 0 when everything was done, 3 when only part of it was
//! (some rows or addresses were not taken), 1 when it failed.

use std::fmt;
use std::process::ExitCode;

/// Part of the work was done; what was not is printed above.
#[derive(Debug)]
pub struct Partly(pub String);

impl fmt::Display for Partly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Partly {}

pub const PARTLY: u8 = 3;

/// A refusal of several parts (a server's detail and its field errors): one line each.
#[derive(Debug)]
pub struct Lines(pub Vec<String>);

impl fmt::Display for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for Lines {}

/// The exit code and the line standard error gets for a command's result.
pub fn code_of(result: anyhow::Result<()>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(partly) = e.downcast_ref::<Partly>() {
        eprintln!("partly done: {partly}");
        return ExitCode::from(PARTLY);
    }
    if let Some(lines) = e.downcast_ref::<Lines>() {
        lines.0.iter().for_each(|l| eprintln!("error: {l}"));
        return ExitCode::FAILURE;
    }
    // One line a person can act on: each cause once.
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    eprintln!("error: {}", parts.join(": "));
    ExitCode::FAILURE
}
