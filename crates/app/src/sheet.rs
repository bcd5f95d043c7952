//! CSV in and out. One writer for every export and report: spreadsheets run cells that start
//! with = + - @ (or a tab or CR) as formulas, so every cell is written as text. One reader for
//! the small files read whole (a roster, a code list); imports stream theirs (`domain::import`).

use std::io::Read;

use crate::AppError;

/// A CSV document built row by row.
pub struct Sheet {
    writer: csv::Writer<Vec<u8>>,
}

impl Sheet {
    /// A sheet starting with its header row.
    pub fn with_header(header: &[&str]) -> Result<Sheet, AppError> {
        let mut sheet = Sheet::without_header();
        sheet.row(header.iter().copied())?;
        Ok(sheet)
    }

    /// A sheet whose rows continue one already started (an export streamed in chunks).
    pub fn without_header() -> Sheet {
        Sheet {
            writer: csv::Writer::from_writer(Vec::new()),
        }
    }

    pub fn row<S: AsRef<str>>(
        &mut self,
        cells: impl IntoIterator<Item = S>,
    ) -> Result<(), AppError> {
        self.writer
            .write_record(
                cells
                    .into_iter()
                    .map(|c| neutralize(c.as_ref()).into_owned()),
            )
            .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
    }

    pub fn into_bytes(self) -> Result<Vec<u8>, AppError> {
        self.writer
            .into_inner()
            .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
    }

    pub fn into_text(self) -> Result<String, AppError> {
        String::from_utf8(self.into_bytes()?)
            .map_err(|e| AppError::Internal(format!("writing CSV: {e}")))
    }
}

/// A small CSV file read whole: a leading byte-order mark dropped, rows of any length, the
/// header read as a row like the others (each loader checks its own).
pub struct SmallCsv {
    bytes: Vec<u8>,
}

/// Why a small file could not be read.
pub enum SmallCsvError {
    Unreadable(std::io::Error),
    TooLarge,
}

impl SmallCsv {
    /// Reads at most `max_bytes`; a larger file is refused rather than read on.
    pub fn read(reader: impl Read, max_bytes: u64) -> Result<SmallCsv, SmallCsvError> {
        let mut bytes = Vec::new();
        reader
            .take(max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(SmallCsvError::Unreadable)?;
        if bytes.len() as u64 > max_bytes {
            return Err(SmallCsvError::TooLarge);
        }
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        Ok(SmallCsv { bytes })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn reader(&self) -> csv::Reader<&[u8]> {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&self.bytes)
    }
}

/// A cell a spreadsheet would run as a formula, prefixed with an apostrophe so it stays text.
pub fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_become_text() {
        assert_eq!(
            neutralize("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralize("+1 415"), "'+1 415");
        assert_eq!(neutralize("-2"), "'-2");
        assert_eq!(neutralize("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize("Dana Lee"), "Dana Lee");
    }

    #[test]
    fn every_cell_is_neutralized_and_quoted_when_needed() {
        let mut s = Sheet::with_header(&["name", "note"]).unwrap();
        s.row(["=cmd", "a, b"]).unwrap();
        assert_eq!(s.into_text().unwrap(), "name,note\n'=cmd,\"a, b\"\n");
    }
}
