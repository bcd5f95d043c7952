//! The taxonomy code list an organization loads, and names for the codes on a profile.
//!
//! Accepts the NUCC's CSV file (header `Code,Grouping,Classification,Specialization,Definition,
//! …,Display Name,Section`) or a plain `code,name` file, with or without a header. Every row is
//! checked before anything is written: one bad row and nothing is loaded.

use std::collections::BTreeMap;
use std::io::Read;

use rollcall_domain::ValueError;
use rollcall_domain::taxonomy::TaxonomyCode;
use rollcall_store::{audit, taxonomy};
use uuid::Uuid;

use crate::audit::Meta;
use crate::sheet::{SmallCsv, SmallCsvError};
use crate::{App, AppError};

/// Largest file accepted: the NUCC list with its definitions is about 2 MB.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;
/// Problems listed in one error; the rest are counted.
const MAX_PROBLEMS_SHOWN: usize = 20;

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub count: usize,
    /// How many codes the list it replaced held.
    pub replaced: i64,
}

enum Layout {
    /// Columns of the NUCC file, by position.
    Nucc {
        code: usize,
        classification: Option<usize>,
        specialization: Option<usize>,
        display_name: Option<usize>,
    },
    /// `code,name`.
    Simple { code: usize, name: usize },
}

fn invalid(message: String) -> AppError {
    ValueError::new("file", "taxonomy_file_invalid", message).into()
}

fn layout_of(header: &csv::StringRecord) -> Option<Layout> {
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let find = |n: &str| names.iter().position(|h| h == n);
    let code = find("code")?;
    let (classification, specialization, display_name) = (
        find("classification"),
        find("specialization"),
        find("display name"),
    );
    if classification.is_some() || display_name.is_some() {
        return Some(Layout::Nucc {
            code,
            classification,
            specialization,
            display_name,
        });
    }
    find("name").map(|name| Layout::Simple { code, name })
}

/// Reads a code list; any problem is an error that names the lines.
pub fn parse(reader: impl Read) -> Result<Vec<(String, String)>, AppError> {
    let file = SmallCsv::read(reader, MAX_FILE_BYTES).map_err(|e| match e {
        SmallCsvError::Unreadable(e) => invalid(format!("The file could not be read: {e}.")),
        SmallCsvError::TooLarge => invalid(format!(
            "The file is larger than {} MB; the NUCC list is far smaller. Is it the right file?",
            MAX_FILE_BYTES / 1024 / 1024
        )),
    })?;
    let mut rdr = file.reader();
    let mut records = rdr.records();
    let first = match records.next() {
        None => {
            return Err(invalid(
                "The file is empty: it holds no taxonomy codes.".into(),
            ));
        }
        Some(r) => r.map_err(|e| invalid(format!("The file is not valid CSV: {e}.")))?,
    };
    let (layout, pending_first) = layout_or_first_code(first)?;
    let mut codes: Vec<(String, String)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for record in pending_first.into_iter().map(Ok).chain(records) {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                problems.push(format!("line {line}: not valid CSV ({e})"));
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let entry = code_of(&record, &layout).and_then(|(code, name)| {
            match seen.insert(code.clone(), line) {
                Some(earlier) => Err(format!("code {code} already appears on line {earlier}")),
                None => Ok((code, name)),
            }
        });
        match entry {
            Ok(entry) => codes.push(entry),
            Err(problem) => problems.push(format!("line {line}: {problem}")),
        }
    }
    if !problems.is_empty() {
        return Err(refusal(problems));
    }
    if codes.is_empty() {
        return Err(invalid(
            "The file has a header but no codes: nothing was loaded.".into(),
        ));
    }
    Ok(codes)
}

/// The layout the first line names; a file without a header starts with a code, kept to read.
fn layout_or_first_code(
    first: csv::StringRecord,
) -> Result<(Layout, Option<csv::StringRecord>), AppError> {
    match layout_of(&first) {
        Some(l) => Ok((l, None)),
        None if first.len() == 2 && TaxonomyCode::parse(&first[0]).is_ok() => {
            Ok((Layout::Simple { code: 0, name: 1 }, Some(first)))
        }
        None => Err(invalid(format!(
            "Line 1 is not a header this loader knows: use the NUCC file as published (Code, Grouping, Classification, Specialization, …, Display Name) or two columns “code,name”. It has: {}.",
            first
                .iter()
                .map(|h| format!("“{}”", h.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// One line's code and name, or what is wrong with it (without its line number).
fn code_of(record: &csv::StringRecord, layout: &Layout) -> Result<(String, String), String> {
    let cell = |i: Option<usize>| {
        i.and_then(|i| record.get(i))
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let (raw_code, name) = match layout {
        Layout::Simple { code, name } => (cell(Some(*code)), cell(Some(*name)).map(str::to_string)),
        Layout::Nucc {
            code,
            classification,
            specialization,
            display_name,
        } => {
            let name = cell(*display_name).map(str::to_string).or_else(|| {
                cell(*classification).map(|c| match cell(*specialization) {
                    Some(s) => format!("{c} ({s})"),
                    None => c.to_string(),
                })
            });
            (cell(Some(*code)), name)
        }
    };
    let raw_code = raw_code.ok_or("the code is missing")?;
    let code = TaxonomyCode::parse(raw_code)
        .map_err(|e| e.message)?
        .as_str()
        .to_string();
    let name = name.ok_or_else(|| {
        format!(
            "code {code} has no name ({})",
            match layout {
                Layout::Simple { .. } => "the name column is empty",
                Layout::Nucc { .. } => "Display Name and Classification are empty",
            }
        )
    })?;
    Ok((code, name.chars().take(500).collect()))
}

/// Every problem found, the first few in full: nothing of the file is loaded.
fn refusal(problems: Vec<String>) -> AppError {
    let total = problems.len();
    let mut shown: Vec<String> = problems.into_iter().take(MAX_PROBLEMS_SHOWN).collect();
    if total > MAX_PROBLEMS_SHOWN {
        shown.push(format!("and {} more", total - MAX_PROBLEMS_SHOWN));
    }
    invalid(format!(
        "Nothing was loaded: {total} {} to fix: {}.",
        if total == 1 {
            "line has a problem"
        } else {
            "lines have problems"
        },
        shown.join("; ")
    ))
}

/// Loads a code list file into the organization, replacing its current list in one transaction.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn load(
    app: &App,
    who: &crate::Principal,
    reader: impl Read,
    meta: &Meta,
) -> Result<Loaded, AppError> {
    who.require(rollcall_domain::Capability::ManageSettings)?;
    let codes = parse(reader)?;
    replace(app, who.org_id, &codes, meta).await
}

/// Replaces the organization's list with `codes` (already checked) and records it.
pub(crate) async fn replace(
    app: &App,
    org_id: Uuid,
    codes: &[(String, String)],
    meta: &Meta,
) -> Result<Loaded, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let replaced = taxonomy::count(&mut tx, org_id).await?;
    taxonomy::replace_for_org(&mut tx, org_id, codes).await?;
    audit::append(
        &mut tx,
        org_id,
        now,
        &[meta.change(
            "taxonomy.loaded",
            "organization",
            Some(org_id),
            Some(&serde_json::json!({ "codes": replaced })),
            Some(&serde_json::json!({ "codes": codes.len() })),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(Loaded {
        count: codes.len(),
        replaced,
    })
}

/// How many codes the organization's list holds.
pub async fn count(app: &App, org_id: Uuid) -> Result<i64, AppError> {
    let mut conn = app.db.read_conn().await?;
    Ok(taxonomy::count(&mut conn, org_id).await?)
}

/// Each code with its name from the organization's list, in the order given; `None` when the
/// list does not hold it (or nothing was loaded). Codes are shown normalized (`225xp0200x` →
/// `225XP0200X`); text that is not a code comes back as given, without a name.
pub async fn name_codes(
    app: &App,
    org_id: Uuid,
    codes: &[String],
) -> Result<Vec<(String, Option<String>)>, AppError> {
    let normalized: Vec<String> = codes
        .iter()
        .map(|c| {
            TaxonomyCode::parse(c)
                .map(|c| c.as_str().to_string())
                .unwrap_or_else(|_| c.trim().to_string())
        })
        .collect();
    if normalized.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = app.db.read_conn().await?;
    let names = taxonomy::names(&mut conn, org_id, &normalized).await?;
    Ok(normalized
        .into_iter()
        .map(|c| {
            let name = names.get(&c).cloned();
            (c, name)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn err(text: &str) -> String {
        parse(text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_nucc_layout() {
        let file = "\u{feff}Code,Grouping,Classification,Specialization,Definition,Effective Date,Deactivation Date,Last Modified Date,Notes,Display Name,Section\r\n\
            225100000X,\"Respiratory, Developmental, Rehabilitative and Restorative Service Providers\",Physical Therapist,,\"A physical therapist, who\r\nworks.\",,,,,Physical Therapist,Individual\r\n\
            2251P0200X,Respiratory,Physical Therapist,Pediatrics,,,,,,,Individual\r\n\
            225x00000x,Respiratory,Occupational Therapist,,,,,,,,Individual\r\n";
        assert_eq!(
            parse(file.as_bytes()).unwrap(),
            vec![
                ("225100000X".to_string(), "Physical Therapist".to_string()),
                (
                    "2251P0200X".to_string(),
                    "Physical Therapist (Pediatrics)".to_string()
                ),
                (
                    "225X00000X".to_string(),
                    "Occupational Therapist".to_string()
                ),
            ]
        );
    }

    #[test]
    fn reads_two_columns_with_or_without_a_header() {
        let want = vec![("235Z00000X".to_string(), "Speech, Language".to_string())];
        assert_eq!(
            parse("code,name\n235Z00000X,\"Speech, Language\"\n".as_bytes()).unwrap(),
            want
        );
        assert_eq!(
            parse("235Z00000X,\"Speech, Language\"\n\n".as_bytes()).unwrap(),
            want
        );
    }

    #[test]
    fn names_every_bad_line() {
        let e = err("code,name\n225100000X,PT\n22510000X,Short\n225200000X,\n225100000X,Again\n");
        assert!(e.contains("Nothing was loaded"), "{e}");
        assert!(
            e.contains("line 3: “22510000X” is not a taxonomy code"),
            "{e}"
        );
        assert!(e.contains("line 4: code 225200000X has no name"), "{e}");
        assert!(
            e.contains("line 5: code 225100000X already appears on line 2"),
            "{e}"
        );
        assert!(err("").contains("empty"));
        assert!(err("id,label\n1,2\n").contains("not a header"));
        assert!(err("code,name\n").contains("no codes"));
    }
}
