//! Page sizes clients ask for: the default when absent, refused (never changed) outside range.

use rollcall_domain::ValueError;

/// The page size asked for, from 1 to `max` (`default` when absent), or a refusal that says
/// the range; `items` names what a page holds, e.g. "users".
pub(crate) fn page_size(
    limit: Option<u32>,
    default: u32,
    max: u32,
    items: &str,
) -> Result<u32, ValueError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ValueError::new(
            "limit",
            "limit_out_of_range",
            format!(
                "limit={n} is out of range: ask for 1 to {max} {items} a page ({default} when absent)."
            ),
        )),
    }
}

/// Cursors are opaque to clients (hex of "tag:position"): the tag ties a cursor to the list
/// that issued it, so one pasted into another list is refused rather than misread.
pub fn cursor(tag: &str, position: impl std::fmt::Display) -> String {
    hex::encode(format!("{tag}:{position}"))
}

/// The position inside a cursor `cursor(tag, …)` made, or a refusal naming the `after`
/// parameter.
pub fn position<T: std::str::FromStr>(tag: &str, cursor: &str) -> Result<T, ValueError> {
    let raw = hex::decode(cursor.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    raw.as_deref()
        .and_then(|r| r.strip_prefix(tag)?.strip_prefix(':')?.parse().ok())
        .ok_or_else(|| {
            ValueError::new(
                "after",
                "cursor_invalid",
                "The page cursor is not one this list gave: pass the `next` of the previous page, or start again without `after`.",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_gives_back_its_position_to_its_own_list_only() {
        let c = cursor("rows", 41);
        assert_eq!(position::<i64>("rows", &c).unwrap(), 41);
        assert_eq!(
            position::<i64>("audit-back", &c).unwrap_err().code,
            "cursor_invalid"
        );
        assert_eq!(position::<i64>("rows", "zz").unwrap_err().field, "after");
    }

    #[test]
    fn a_page_size_outside_its_range_is_refused_not_changed() {
        assert_eq!(page_size(None, 50, 500, "rows").unwrap(), 50);
        assert_eq!(page_size(Some(500), 50, 500, "rows").unwrap(), 500);
        let e = page_size(Some(0), 50, 500, "rows").unwrap_err();
        assert!(e.message.contains("1 to 500 rows"), "{}", e.message);
    }
}
