//! Emergency ("break-glass") access (HIPAA 164.312(a)(2)(ii)): what a designated person may grant
//! themselves, for how long, with what reason, and the states of its review afterwards.

use crate::error::{ValueError, quoted};
use crate::permission::{Module, Permission};

/// The shortest time an emergency grant or the organization's maximum may be.
pub const MIN_MINUTES: u32 = 15;
/// The longest maximum an organization may set: three days.
pub const LIMIT_MINUTES: u32 = 72 * 60;
/// The organization's maximum until a company admin changes it: four hours.
pub const DEFAULT_MAX_MINUTES: u32 = 4 * 60;
/// A reason says why, in a sentence: long enough to mean something, short enough to read.
pub const REASON_MIN_CHARS: usize = 10;
pub const REASON_MAX_CHARS: usize = 500;
/// A review's note.
pub const NOTE_MAX_CHARS: usize = 1_000;

/// Emergencies are about patients: a person may grant themselves clinical, scheduling, billing
/// and SOAP-note permissions, never administration, which would let them make the grant
/// permanent or reach other people's accounts.
pub fn may_be_granted(p: Permission) -> Result<Permission, ValueError> {
    if p.module() == Module::Administration {
        return Err(ValueError::new(
            "permission",
            "emergency_permission_not_allowed",
            format!(
                "{} ({}) cannot be taken as emergency access: emergency access covers calendar, billing, clinical and SOAP-note permissions. Ask a company admin for administration permissions.",
                p.key(),
                p.label()
            ),
        ));
    }
    Ok(p)
}

/// The reason, trimmed: required, 10 to 500 characters.
pub fn reason(input: &str) -> Result<String, ValueError> {
    let text = input.trim();
    let chars = text.chars().count();
    if chars < REASON_MIN_CHARS {
        return Err(ValueError::new(
            "reason",
            "emergency_reason_missing",
            format!(
                "Say why you need emergency access, in at least {REASON_MIN_CHARS} characters (e.g. “covering Dr Lee's patients in the ED tonight”); company admins review every use."
            ),
        ));
    }
    if chars > REASON_MAX_CHARS {
        return Err(ValueError::new(
            "reason",
            "emergency_reason_too_long",
            format!(
                "The reason is {chars} characters long; keep it to {REASON_MAX_CHARS} or fewer."
            ),
        ));
    }
    Ok(text.to_string())
}

/// How long a grant lasts, in minutes: 15 up to the organization's maximum (the maximum when
/// not given).
pub fn duration(minutes: Option<i64>, max: u32) -> Result<u32, ValueError> {
    let Some(minutes) = minutes else {
        return Ok(max);
    };
    if minutes < i64::from(MIN_MINUTES) || minutes > i64::from(max) {
        return Err(ValueError::new(
            "minutes",
            "emergency_duration_range",
            format!(
                "Emergency access lasts {MIN_MINUTES} to {max} minutes in this organization; {minutes} is outside that. Choose a shorter time, or ask a company admin to raise the maximum."
            ),
        ));
    }
    Ok(minutes as u32)
}

/// The organization's maximum, as a company admin sets it: 15 minutes to 72 hours.
pub fn max_minutes(minutes: i64) -> Result<u32, ValueError> {
    if minutes < i64::from(MIN_MINUTES) || minutes > i64::from(LIMIT_MINUTES) {
        return Err(ValueError::new(
            "max_minutes",
            "emergency_max_range",
            format!(
                "The longest emergency access must be between {MIN_MINUTES} minutes and 72 hours ({LIMIT_MINUTES} minutes); {minutes} is outside that."
            ),
        ));
    }
    Ok(minutes as u32)
}

/// Where a grant's after-the-fact review stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewState {
    /// Not reviewed yet: shown to company admins until they close it.
    Open,
    /// The use was justified.
    Accepted,
    /// The use needs a follow-up (a privacy officer, a conversation).
    Flagged,
}

impl ReviewState {
    pub const ALL: [ReviewState; 3] = [
        ReviewState::Open,
        ReviewState::Accepted,
        ReviewState::Flagged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Open => "open",
            ReviewState::Accepted => "accepted",
            ReviewState::Flagged => "flagged",
        }
    }

    pub fn parse(input: &str) -> Result<ReviewState, ValueError> {
        ReviewState::ALL
            .into_iter()
            .find(|s| s.as_str() == input.trim())
            .ok_or_else(|| {
                ValueError::new(
                    "review_state",
                    "review_state_unknown",
                    format!(
                        "{} is not a review state: use open, accepted or flagged.",
                        quoted(input)
                    ),
                )
            })
    }

    /// What a reviewer may decide: accepted or flagged (a review is never reopened).
    pub fn decision(input: &str) -> Result<ReviewState, ValueError> {
        match ReviewState::parse(input) {
            Ok(s @ (ReviewState::Accepted | ReviewState::Flagged)) => Ok(s),
            _ => Err(ValueError::new(
                "decision",
                "review_decision_unknown",
                format!(
                    "{} is not a review decision: use accepted (the use was justified) or flagged (it needs a follow-up).",
                    quoted(input)
                ),
            )),
        }
    }
}

string_value!(ReviewState, as_str, ReviewState::parse);
key_schema!(
    ReviewState,
    as_str,
    "Where an emergency grant's review stands."
);

/// A review's note, trimmed: optional when accepting, required when flagging (what is wrong).
pub fn review_note(input: &str, decision: ReviewState) -> Result<String, ValueError> {
    let text = input.trim();
    if decision == ReviewState::Flagged && text.is_empty() {
        return Err(ValueError::new(
            "note",
            "review_note_missing",
            "Say why you flag this use, so whoever follows it up knows what to look at.",
        ));
    }
    if text.chars().count() > NOTE_MAX_CHARS {
        return Err(ValueError::new(
            "note",
            "review_note_too_long",
            format!("Keep the note to {NOTE_MAX_CHARS} characters or fewer."),
        ));
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn administration_is_never_emergency_access() {
        assert!(may_be_granted(Permission::ClinicalCharts).is_ok());
        for p in Module::Administration.permissions() {
            assert_eq!(
                may_be_granted(p).unwrap_err().code,
                "emergency_permission_not_allowed"
            );
        }
    }

    #[test]
    fn a_reason_is_a_sentence() {
        assert_eq!(
            reason("  ED cover, Dr Lee out  ").unwrap(),
            "ED cover, Dr Lee out"
        );
        assert_eq!(reason("  x ").unwrap_err().code, "emergency_reason_missing");
        let long = "a".repeat(REASON_MAX_CHARS + 1);
        assert_eq!(reason(&long).unwrap_err().code, "emergency_reason_too_long");
    }

    #[test]
    fn durations_stay_within_the_organization_maximum() {
        assert_eq!(duration(None, 240).unwrap(), 240);
        assert_eq!(duration(Some(15), 240).unwrap(), 15);
        assert_eq!(
            duration(Some(241), 240).unwrap_err().code,
            "emergency_duration_range"
        );
        assert_eq!(
            duration(Some(14), 240).unwrap_err().code,
            "emergency_duration_range"
        );
        assert!(max_minutes(72 * 60).is_ok());
        assert_eq!(
            max_minutes(72 * 60 + 1).unwrap_err().code,
            "emergency_max_range"
        );
        assert_eq!(max_minutes(10).unwrap_err().code, "emergency_max_range");
    }

    #[test]
    fn reviews_decide_accepted_or_flagged_and_a_flag_says_why() {
        assert_eq!(
            ReviewState::decision("accepted").unwrap(),
            ReviewState::Accepted
        );
        assert_eq!(
            ReviewState::decision("open").unwrap_err().code,
            "review_decision_unknown"
        );
        assert_eq!(
            review_note(" ", ReviewState::Flagged).unwrap_err().code,
            "review_note_missing"
        );
        assert_eq!(review_note(" ", ReviewState::Accepted).unwrap(), "");
    }
}
