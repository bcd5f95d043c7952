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
