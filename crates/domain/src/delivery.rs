//! Where an outgoing message (a row of the outbox) is in its delivery.

use crate::ValueError;

/// A message is queued until it is sent, failed (given up after its attempts) or revoked (its
/// invitation was withdrawn before it went out).
///
/// Not the invitation's own delivery state, which also says `retrying` while a failed message
/// waits for its next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    Queued,
    Sent,
    Failed,
    Revoked,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] = [
        DeliveryState::Queued,
        DeliveryState::Sent,
        DeliveryState::Failed,
        DeliveryState::Revoked,
    ];

    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Revoked => "revoked",
        }
    }

    pub fn parse(key: &str) -> Result<DeliveryState, ValueError> {
        DeliveryState::ALL
            .into_iter()
            .find(|s| s.as_str() == key)
            .ok_or_else(|| {
                ValueError::new(
                    "state",
                    "delivery_state_unknown",
                    format!("“{key}” is not a state an outgoing message can be in."),
                )
            })
    }
}

string_value!(DeliveryState, as_str, DeliveryState::parse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_parse_back_from_their_names() {
        for s in DeliveryState::ALL {
            assert_eq!(DeliveryState::parse(s.as_str()).unwrap(), s);
        }
        assert!(DeliveryState::parse("retrying").is_err());
        assert!(DeliveryState::parse("Sent").is_err());
    }
}
