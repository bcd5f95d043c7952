use serde::{Deserialize, Serialize};

use crate::error::{ValueError, quoted};

/// Where an account is in its life. `Expired` is derived from the invitation's expiry and never
/// stored; `Blocked` and `Disabled` exist only on records migrated from an older system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Pending,
    Expired,
    Active,
    Inactive,
    Blocked,
    Disabled,
}

impl UserStatus {
    pub const ALL: [UserStatus; 6] = [
        UserStatus::Pending,
        UserStatus::Expired,
        UserStatus::Active,
        UserStatus::Inactive,
        UserStatus::Blocked,
        UserStatus::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "pending",
            UserStatus::Expired => "expired",
            UserStatus::Active => "active",
            UserStatus::Inactive => "inactive",
            UserStatus::Blocked => "blocked",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            UserStatus::Pending => "Pending",
            UserStatus::Expired => "Expired",
            UserStatus::Active => "Active",
            UserStatus::Inactive => "Inactive",
            UserStatus::Blocked => "Blocked",
            UserStatus::Disabled => "Disabled",
        }
    }

    pub fn parse(input: &str) -> Result<UserStatus, ValueError> {
        let wanted = input.trim();
        UserStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                ValueError::new(
                    "status",
                    "status_unknown",
                    format!(
                        "{} is not a status: use pending, expired, active, inactive, blocked or disabled.",
                        quoted(wanted)
                    ),
                )
            })
    }

    /// Whether the account uses a licence seat.
    pub fn holds_seat(self) -> bool {
        matches!(
            self,
            UserStatus::Pending | UserStatus::Expired | UserStatus::Active
        )
    }

    pub fn is_legacy(self) -> bool {
        matches!(self, UserStatus::Blocked | UserStatus::Disabled)
    }

    /// Whether a new account may start in this status: Pending for anyone invited, Active only
    /// for an administrator created from the command line (there is nobody to invite them).
    pub fn assignable_to_new_user(self) -> bool {
        matches!(self, UserStatus::Pending | UserStatus::Active)
    }
}

/// The status to show, given the stored one and the live invitation's expiry (if any).
pub fn derive(
    stored: UserStatus,
    invitation_expires_at_micros: Option<i64>,
    now_micros: i64,
) -> UserStatus {
    match stored {
        UserStatus::Pending | UserStatus::Expired => match invitation_expires_at_micros {
            Some(expires) if now_micros >= expires => UserStatus::Expired,
            _ => UserStatus::Pending,
        },
        other => other,
    }
}

/// Something that happens to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transition {
    CompleteRegistration,
    Deactivate,
    /// An account that never registered goes back to Pending and needs a new invitation.
    Reactivate {
        ever_registered: bool,
    },
    Resend,
}

/// The status after `t`, or why `t` cannot happen to an account in status `from`.
/// No transition leads to Blocked or Disabled.
pub fn apply(from: UserStatus, t: Transition) -> Result<UserStatus, ValueError> {
    use Transition::*;
    use UserStatus::*;
    let refuse = |code, message: String| Err(ValueError::new("status", code, message));
    let legacy = || {
        refuse(
            "status_legacy",
            format!(
                "This account has the legacy status {}: deactivate it first, then reactivate it.",
                from.label()
            ),
        )
    };
    match (t, from) {
        (Resend, Pending | Expired) => Ok(Pending),
        (Resend, Active) => refuse(
            "status_already_registered",
            "This person has already registered, so there is no invitation to resend.".into(),
        ),
        (Resend, Inactive) => refuse(
            "status_inactive",
            "This account is inactive: reactivate it to send a new invitation.".into(),
        ),
        (Resend, Blocked | Disabled) => legacy(),

        (CompleteRegistration, Pending) => Ok(Active),
        (CompleteRegistration, Expired) => refuse(
            "invitation_expired",
            "This invitation link has expired: ask your organization to send a new one.".into(),
        ),
        (CompleteRegistration, Active) => refuse(
            "status_already_registered",
            "This account is already registered: sign in instead.".into(),
        ),
        (CompleteRegistration, Inactive | Blocked | Disabled) => refuse(
            "status_inactive",
            "This account has been deactivated: ask your organization to reactivate it.".into(),
        ),

        (Deactivate, Inactive) => refuse(
            "status_already_inactive",
            "This account is already inactive.".into(),
        ),
        (Deactivate, Pending | Expired | Active | Blocked | Disabled) => Ok(Inactive),

        (Reactivate { ever_registered }, Inactive) => {
            Ok(if ever_registered { Active } else { Pending })
        }
        (Reactivate { .. }, Blocked | Disabled) => legacy(),
        (Reactivate { .. }, Pending | Expired | Active) => refuse(
            "status_not_inactive",
            format!(
                "Only inactive accounts can be reactivated, and this one is {}.",
                from.label()
            ),
        ),
    }
}

/// The status of a record migrated from an older system: the only way to Blocked or Disabled.
/// `expired` is stored as Pending, since expiry is derived from the invitation.
pub fn legacy_import(status: &str) -> Result<UserStatus, ValueError> {
    let status = match UserStatus::parse(status)? {
        UserStatus::Expired => UserStatus::Pending,
        other => other,
    };
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::Transition::*;
    use super::UserStatus::*;
    use super::*;
    use proptest::prelude::*;

    const TRANSITIONS: [Transition; 5] = [
        CompleteRegistration,
        Deactivate,
        Reactivate {
            ever_registered: true,
        },
        Reactivate {
            ever_registered: false,
        },
        Resend,
    ];

    /// The status table of the specification, written out pair by pair.
    fn expected(from: UserStatus, t: Transition) -> Result<UserStatus, &'static str> {
        match (from, t) {
            (Pending, CompleteRegistration) => Ok(Active),
            (Expired, CompleteRegistration) => Err("invitation_expired"),
            (Active, CompleteRegistration) => Err("status_already_registered"),
            (Inactive | Blocked | Disabled, CompleteRegistration) => Err("status_inactive"),
            (Inactive, Deactivate) => Err("status_already_inactive"),
            (_, Deactivate) => Ok(Inactive),
            (
                Inactive,
                Reactivate {
                    ever_registered: true,
                },
            ) => Ok(Active),
            (
                Inactive,
                Reactivate {
                    ever_registered: false,
                },
            ) => Ok(Pending),
            (Blocked | Disabled, Reactivate { .. }) => Err("status_legacy"),
            (_, Reactivate { .. }) => Err("status_not_inactive"),
            (Pending | Expired, Resend) => Ok(Pending),
            (Active, Resend) => Err("status_already_registered"),
            (Inactive, Resend) => Err("status_inactive"),
            (Blocked | Disabled, Resend) => Err("status_legacy"),
        }
    }

    #[test]
    fn every_pair_follows_the_table() {
        for from in UserStatus::ALL {
            for t in TRANSITIONS {
                let got = apply(from, t).map_err(|e| e.code);
                assert_eq!(got, expected(from, t), "{from:?} + {t:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for s in UserStatus::ALL {
            assert_eq!(UserStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(UserStatus::parse(&s.label().to_uppercase()).unwrap(), s);
        }
        assert_eq!(
            UserStatus::parse("paused").unwrap_err().code,
            "status_unknown"
        );
    }

    #[test]
    fn seats_legacy_and_new_users() {
        let seated: Vec<_> = UserStatus::ALL
            .into_iter()
            .filter(|s| s.holds_seat())
            .collect();
        assert_eq!(seated, [Pending, Expired, Active]);
        let legacy: Vec<_> = UserStatus::ALL
            .into_iter()
            .filter(|s| s.is_legacy())
            .collect();
        assert_eq!(legacy, [Blocked, Disabled]);
        let new: Vec<_> = UserStatus::ALL
            .into_iter()
            .filter(|s| s.assignable_to_new_user())
            .collect();
        assert_eq!(new, [Pending, Active]);
    }

    #[test]
    fn expiry_is_derived() {
        assert_eq!(derive(Pending, Some(100), 99), Pending);
        assert_eq!(derive(Pending, Some(100), 100), Expired);
        assert_eq!(derive(Pending, None, 1_000), Pending);
        assert_eq!(derive(Active, Some(100), 1_000), Active);
        assert_eq!(derive(Inactive, Some(100), 1_000), Inactive);
    }

    #[test]
    fn only_legacy_import_creates_legacy_statuses() {
        assert_eq!(legacy_import("Blocked").unwrap(), Blocked);
        assert_eq!(legacy_import("disabled").unwrap(), Disabled);
        assert_eq!(legacy_import("expired").unwrap(), Pending);
        assert_eq!(legacy_import("active").unwrap(), Active);
        assert!(legacy_import("gone").is_err());
    }

    proptest! {
        #[test]
        fn no_sequence_reaches_a_legacy_status(
            steps in proptest::collection::vec(0usize..TRANSITIONS.len(), 0..40),
            expire_at in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut status = Pending;
            for (i, step) in steps.into_iter().enumerate() {
                if let Ok(next) = apply(status, TRANSITIONS[step]) {
                    status = next;
                }
                // Time may pass between steps and expire a pending invitation.
                if expire_at[i] {
                    status = derive(status, Some(0), 1);
                }
                prop_assert!(!status.is_legacy(), "{:?}", status);
            }
        }
    }
}
