use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read};

use csv::ByteRecord;
use serde::{Deserialize, Serialize};

use super::column::{Column, Header, read_header, spreadsheet_column};
use super::{Issue, RowError};
use crate::error::ValueError;

/// The largest record accepted. No staff row comes near it; a quote that is opened and never
/// closed does, because the rest of the file then reads as one cell, so this keeps the memory
/// of such a file bounded and names the likely cause.
pub const MAX_ROW_BYTES: u64 = 64 * 1024;

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One data row as read: its line number in the file (1-based, the header is line 1; a quoted
/// field spanning lines: the line where the record starts) and its non-empty trimmed cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRow {
    pub line: u64,
    pub cells: BTreeMap<Column, String>,
}

impl RawRow {
    pub fn get(&self, c: Column) -> Option<&str> {
        self.cells.get(&c).map(String::as_str)
    }
}

/// Streaming reader over a CSV byte stream: UTF-8 with or without BOM, CRLF or LF, quoted fields
/// (embedded commas, quotes, newlines), blank lines and rows of empty cells skipped. It holds
/// one record at a time, so memory stays bounded whatever the row count.
pub struct Reader<R: Read> {
    csv: csv::Reader<Source<R>>,
    header: Header,
    record: ByteRecord,
    rows: u64,
    done: bool,
    lines: Lines,
}

impl<R: Read> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("header", &self.header)
            .field("rows_read", &self.rows)
            .field("bytes_read", &self.bytes_read())
            .finish_non_exhaustive()
    }
}

impl<R: Read> Reader<R> {
    /// Reads and resolves the header.
    pub fn new(input: R) -> Result<Reader<R>, ValueError> {
        Reader::open(input, None)
    }

    /// Like [`Reader::new`], and stops with a `file_too_large` error as soon as more than
    /// `max_bytes` have been read, before the excess is parsed.
    pub fn with_limit(input: R, max_bytes: u64) -> Result<Reader<R>, ValueError> {
        Reader::open(input, Some(max_bytes))
    }

    fn open(input: R, limit: Option<u64>) -> Result<Reader<R>, ValueError> {
        let source = Source {
            inner: input,
            raw: 0,
            given: 0,
            probe: None,
            breaks: VecDeque::new(),
            limit,
            record_start: 0,
        };
        let mut reader = Reader {
            csv: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(source),
            header: Header::empty(),
            record: ByteRecord::new(),
            rows: 0,
            done: false,
            lines: Lines::default(),
        };
        loop {
            let (_, outcome) = reader.read_record();
            match outcome {
                Err(issue) => return Err(ValueError::new("file", code_of(&issue), issue.message)),
                Ok(false) => {
                    return Err(ValueError::new(
                        "file",
                        "file_empty",
                        "The file has no header line: it is empty. Download the template, fill in one row per person under its header, and upload it again.",
                    ));
                }
                Ok(true) if reader.record.iter().all(blank) => continue,
                Ok(true) => break,
            }
        }
        let mut cells = Vec::with_capacity(reader.record.len());
        for field in reader.record.iter() {
            match std::str::from_utf8(field) {
                Ok(cell) if !cell.contains('\0') => cells.push(cell),
                // UTF-16 (what some spreadsheets call "Unicode text") has a zero byte in
                // every other position, or no valid UTF-8 at all.
                _ => {
                    return Err(ValueError::new(
                        "file",
                        "file_not_utf8",
                        "The file is not UTF-8 text, so its header cannot be read: save it again as “CSV UTF-8” and upload that file.",
                    ));
                }
            }
        }
        let header = read_header(&cells)?;
        reader.header = header;
        Ok(reader)
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Next row, or None at the end. A row that cannot be turned into cells (more fields than
    /// the header, invalid UTF-8) is returned as an error and reading goes on; a failure of the
    /// stream itself is returned once, and then the reader ends.
    pub fn next_row(&mut self) -> Option<Result<RawRow, RowError>> {
        loop {
            if self.done {
                return None;
            }
            let (line, outcome) = self.read_record();
            match outcome {
                Err(issue) => {
                    self.done = true;
                    return Some(Err(RowError { line, issue }));
                }
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Ok(true) if self.record.iter().all(blank) => continue,
                Ok(true) => {
                    self.rows += 1;
                    return Some(self.row(line));
                }
            }
        }
    }

    /// Data rows returned so far, with or without error; blank rows and a stream failure are
    /// not rows.
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    /// Bytes taken from the input so far, BOM included. The reader reads ahead by up to its
    /// buffer (8 KB), so this runs slightly ahead of the rows returned.
    pub fn bytes_read(&self) -> u64 {
        self.csv.get_ref().raw
    }

    /// Reads the next record into `self.record`: its starting line, and whether there was one.
    fn read_record(&mut self) -> (u64, Result<bool, Issue>) {
        let from = self.csv.position().byte();
        self.csv.get_mut().record_start = from;
        let outcome = self.csv.read_byte_record(&mut self.record);
        let line = self.lines.line_at(&mut self.csv.get_mut().breaks, from);
        (line, outcome.map_err(|e| failure(&e)))
    }

    fn row(&self, line: u64) -> Result<RawRow, RowError> {
        let fail = |issue| Err(RowError { line, issue });
        let used = self
            .record
            .iter()
            .rposition(|f| !blank(f))
            .map_or(0, |i| i + 1);
        if used > self.header.len() {
            return fail(Issue::error(
                None,
                "row_too_many_cells",
                format!(
                    "This row has {used} cells but the header has {} columns, so its values cannot be matched to columns. A value that contains a comma must be in double quotes, like \"Lee, Jr.\"; otherwise delete what is past column {}.",
                    self.header.len(),
                    spreadsheet_column(self.header.len() - 1),
                ),
            ));
        }
        let mut cells = BTreeMap::new();
        for (position, field) in self.record.iter().take(used).enumerate() {
            let Some(column) = self.header.column_at(position) else {
                continue;
            };
            let Ok(text) = std::str::from_utf8(field) else {
                return fail(Issue::error(
                    Some(column),
                    "encoding_invalid",
                    format!(
                        "The {column} cell of this row is not UTF-8 text (the file was probably saved in another encoding, which garbles accented letters): save the file as “CSV UTF-8” and upload it again."
                    ),
                ));
            };
            let text = text.trim();
            if !text.is_empty() {
                cells.insert(column, text.to_owned());
            }
        }
        Ok(RawRow { line, cells })
    }
}

fn blank(field: &[u8]) -> bool {
    field.iter().all(u8::is_ascii_whitespace)
}

fn code_of(issue: &Issue) -> &'static str {
    match issue.code.as_str() {
        "file_too_large" => "file_too_large",
        "row_too_long" => "row_too_long",
        _ => "file_unreadable",
    }
}

/// Why the stream stopped, as a row-level issue.
fn failure(e: &csv::Error) -> Issue {
    let limit = match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<Limit>()),
        _ => None,
    };
    match limit {
        Some(Limit::File(max)) => Issue::error(
            None,
            "file_too_large",
            format!(
                "The file is larger than {}, the most one import accepts: split it into several files and import them one after the other.",
                size(*max)
            ),
        ),
        Some(Limit::Row) => Issue::error(
            None,
            "row_too_long",
            format!(
                "This row is longer than {}, which usually means a double quote opened in it is never closed, so everything after it reads as one cell: close the quote (or remove it) and upload the file again. Rows after this one were not read.",
                size(MAX_ROW_BYTES)
            ),
        ),
        None => Issue::error(
            None,
            "file_unreadable",
            format!(
                "The file could not be read to the end ({e}): upload it again. Rows after this point were not read."
            ),
        ),
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// A limit hit while reading, carried through `io::Error` to tell it from a real I/O failure.
#[derive(Debug)]
enum Limit {
    File(u64),
    Row,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::File(max) => write!(f, "more than {max} bytes"),
            Limit::Row => write!(f, "a record longer than {MAX_ROW_BYTES} bytes"),
        }
    }
}

impl std::error::Error for Limit {}

/// The input as the CSV parser sees it: without a leading BOM, counted, limited, and with the
/// offsets of its line-break bytes noted. The parser's own line numbers are unreliable (it
/// counts skipped blank lines towards the next record and a CRLF late), so lines are counted
/// here from those offsets.
struct Source<R> {
    inner: R,
    /// Bytes read from `inner`.
    raw: u64,
    /// Bytes handed to the parser (the BOM is not).
    given: u64,
    /// The first bytes, read to look for a BOM; None until looked at.
    probe: Option<Vec<u8>>,
    /// Offsets (in parser bytes) and values of `\r` and `\n` not yet counted.
    breaks: VecDeque<(u64, u8)>,
    limit: Option<u64>,
    /// Where the record being parsed starts (in parser bytes).
    record_start: u64,
}

impl<R: Read> Source<R> {
    fn probe(&mut self) -> io::Result<()> {
        let mut head = [0u8; 3];
        let mut got = 0;
        while got < head.len() {
            match self.inner.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.raw += got as u64;
        let head = &head[..got];
        self.probe = Some(if head == BOM {
            Vec::new()
        } else {
            head.to_vec()
        });
        Ok(())
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.given - self.record_start.min(self.given) > MAX_ROW_BYTES {
            return Err(io::Error::other(Limit::Row));
        }
        if self.probe.is_none() {
            self.probe()?;
        }
        let pending = self.probe.as_mut().expect("probed above");
        let n = if pending.is_empty() {
            let n = self.inner.read(buf)?;
            self.raw += n as u64;
            n
        } else {
            let n = pending.len().min(buf.len());
            buf[..n].copy_from_slice(&pending[..n]);
            pending.drain(..n);
            n
        };
        if let Some(max) = self.limit
            && self.raw > max
        {
            return Err(io::Error::other(Limit::File(max)));
        }
        for (i, b) in buf[..n].iter().enumerate() {
            if matches!(b, b'\r' | b'\n') {
                self.breaks.push_back((self.given + i as u64, *b));
            }
        }
        self.given += n as u64;
        Ok(n)
    }
}

/// Line breaks counted so far: `\n`, `\r\n` and a lone `\r` each end a line.
#[derive(Debug, Default)]
struct Lines {
    counted: u64,
}

impl Lines {
    /// The line of the first byte at or after `from` that is not a line break: where a
    /// record that the parser started reading at `from` really begins.
    fn line_at(&mut self, breaks: &mut VecDeque<(u64, u8)>, from: u64) -> u64 {
        let mut start = from;
        while let Some(&(at, b)) = breaks.front() {
            if at < start {
                breaks.pop_front();
                self.count(b, at, breaks);
            } else if at == start {
                breaks.pop_front();
                self.count(b, at, breaks);
                start += 1;
            } else {
                break;
            }
        }
        self.counted + 1
    }

    fn count(&mut self, b: u8, at: u64, rest: &VecDeque<(u64, u8)>) {
        let crlf = b == b'\r' && rest.front() == Some(&(at + 1, b'\n'));
        if !crlf {
            self.counted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> (Vec<String>, Vec<Result<RawRow, RowError>>) {
        let mut r = Reader::new(input).unwrap_or_else(|e| panic!("{e}"));
        let header = r.header().columns().map(|c| c.name().to_owned()).collect();
        let mut rows = Vec::new();
        while let Some(row) = r.next_row() {
            rows.push(row);
        }
        assert_eq!(r.rows_read(), rows.len() as u64);
        (header, rows)
    }

    fn lines(rows: &[Result<RawRow, RowError>]) -> Vec<u64> {
        rows.iter()
            .map(|r| match r {
                Ok(row) => row.line,
                Err(e) => e.line,
            })
            .collect()
    }

    #[test]
    fn line_numbers_survive_blank_lines_crlf_and_quoted_breaks() {
        let input = b"first_name,last_name,email\r\n\r\nAnn,Lee,a@x.org\r\n\"Bo\r\nB\",\"x\ny\",b@x.org\r\n\r\n,,\r\n  \r\nCy,Day,c@x.org";
        let (_, rows) = read(input);
        assert_eq!(lines(&rows), [3, 4, 10]);
        let bo = rows[1].as_ref().unwrap();
        assert_eq!(bo.get(Column::FirstName), Some("Bo\r\nB"));
        assert_eq!(bo.get(Column::LastName), Some("x\ny"));
        let input = b"first_name,last_name,email\rAnn,Lee,a@x.org\r\rBo,B,b@x.org\n";
        assert_eq!(lines(&read(input).1), [2, 4]);
    }

    #[test]
    fn bom_is_dropped_and_counted() {
        let mut input = BOM.to_vec();
        input.extend_from_slice(b"\"first_name\",last_name,email\nAnn,Lee,a@x.org\n");
        let mut r = Reader::new(&input[..]).unwrap();
        assert!(r.header().has(Column::FirstName));
        let row = r.next_row().unwrap().unwrap();
        assert_eq!((row.line, row.get(Column::Email)), (2, Some("a@x.org")));
        assert!(r.next_row().is_none());
        assert_eq!(r.bytes_read(), input.len() as u64);
    }

    #[test]
    fn short_inputs() {
        for input in [
            &b""[..],
            b"\xEF\xBB\xBF",
            b"\xEF\xBB\xBF\n\n",
            b"\r\n",
            b" , \n,,\n",
            b"\xEF",
        ] {
            let code = Reader::new(input).map(|_| ()).unwrap_err().code;
            let expected = if input == b"\xEF" {
                "file_not_utf8"
            } else {
                "file_empty"
            };
            assert_eq!(code, expected, "{input:?}");
        }
        let (_, rows) = read(b"email,first_name,last_name");
        assert!(rows.is_empty());
    }

    #[test]
    fn utf16_is_refused_with_a_fix() {
        let text = "first_name,last_name,email\n";
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert_eq!(Reader::new(&utf16[..]).unwrap_err().code, "file_not_utf8");
        assert_eq!(Reader::new(&utf16[2..]).unwrap_err().code, "file_not_utf8");
    }

    #[test]
    fn bad_rows_are_reported_and_reading_goes_on() {
        let input = b"first_name,last_name,email\nAnn,Lee,a@x.org,extra\nAnn,Lee,a@x.org,, \nJos\xE9,Ruiz,j@x.org\nBo\n";
        let (_, rows) = read(input);
        assert_eq!(lines(&rows), [2, 3, 4, 5]);
        let e = rows[0].as_ref().unwrap_err();
        assert_eq!(
            (e.issue.code.as_str(), e.issue.column),
            ("row_too_many_cells", None)
        );
        assert!(e.issue.message.contains("4 cells but the header has 3"));
        assert_eq!(rows[1].as_ref().unwrap().cells.len(), 3);
        let e = rows[2].as_ref().unwrap_err();
        assert_eq!(
            (e.issue.code.as_str(), e.issue.column),
            ("encoding_invalid", Some(Column::FirstName))
        );
        let bo = rows[3].as_ref().unwrap();
        assert_eq!(bo.cells.len(), 1);
    }

    #[test]
    fn limits_stop_the_reading() {
        let mut input = b"first_name,last_name,email\n".to_vec();
        for i in 0..2000 {
            input.extend_from_slice(format!("A{i},B,a{i}@x.org\n").as_bytes());
        }
        let mut r = Reader::with_limit(&input[..], 10_000).unwrap();
        let mut last = None;
        let mut n = 0;
        while let Some(row) = r.next_row() {
            n += 1;
            last = Some(row);
        }
        let e = last.unwrap().unwrap_err();
        assert_eq!(e.issue.code, "file_too_large");
        assert!(r.bytes_read() <= 10_000 + 8 * 1024 + 3);
        assert!(n < 2000 && r.rows_read() == n - 1);
        assert!(r.next_row().is_none());

        let mut input = b"first_name,last_name,email\nAnn,\"Lee,a@x.org\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_ROW_BYTES as usize));
        let mut r = Reader::new(&input[..]).unwrap();
        let e = r.next_row().unwrap().unwrap_err();
        assert_eq!((e.line, e.issue.code.as_str()), (2, "row_too_long"));
        assert!(r.next_row().is_none());
        assert!(r.bytes_read() < 2 * MAX_ROW_BYTES);
    }

    #[test]
    fn io_failure_ends_the_reading() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let text = b"first_name,last_name,email\nAnn,Lee,a@x.org\n";
                if self.0 >= text.len() {
                    return Err(io::Error::other("disk gone"));
                }
                let n = (text.len() - self.0).min(buf.len()).min(7);
                buf[..n].copy_from_slice(&text[self.0..self.0 + n]);
                self.0 += n;
                Ok(n)
            }
        }
        let mut r = Reader::new(Failing(0)).unwrap();
        let first = r.next_row().unwrap();
        let e = match first {
            Ok(row) => {
                assert_eq!(row.line, 2);
                r.next_row().unwrap().unwrap_err()
            }
            Err(e) => e,
        };
        assert_eq!(e.issue.code, "file_unreadable");
        assert!(e.issue.message.contains("disk gone"));
        assert!(r.next_row().is_none());
    }
}
