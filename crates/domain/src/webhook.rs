//! Webhooks: the event types an endpoint can ask for, which audit actions they come from, the
//! retry schedule and which network addresses an endpoint may point at.

use std::net::IpAddr;

use serde::Serialize;

use crate::error::{ValueError, quoted};

/// What a webhook tells a receiver about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum EventType {
    #[serde(rename = "user.invited")]
    UserInvited,
    #[serde(rename = "user.registered")]
    UserRegistered,
    #[serde(rename = "user.activated")]
    UserActivated,
    #[serde(rename = "user.deactivated")]
    UserDeactivated,
    #[serde(rename = "user.reactivated")]
    UserReactivated,
    #[serde(rename = "user.access_changed")]
    UserAccessChanged,
    #[serde(rename = "role.changed")]
    RoleChanged,
    #[serde(rename = "job.finished")]
    JobFinished,
    #[serde(rename = "emergency_access.granted")]
    EmergencyAccessGranted,
    #[serde(rename = "emergency_access.ended")]
    EmergencyAccessEnded,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::UserInvited,
        EventType::UserRegistered,
        EventType::UserActivated,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserAccessChanged,
        EventType::RoleChanged,
        EventType::JobFinished,
        EventType::EmergencyAccessGranted,
        EventType::EmergencyAccessEnded,
    ];

    pub fn key(self) -> &'static str {
        match self {
            EventType::UserInvited => "user.invited",
            EventType::UserRegistered => "user.registered",
            EventType::UserActivated => "user.activated",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserAccessChanged => "user.access_changed",
            EventType::RoleChanged => "role.changed",
            EventType::JobFinished => "job.finished",
            EventType::EmergencyAccessGranted => "emergency_access.granted",
            EventType::EmergencyAccessEnded => "emergency_access.ended",
        }
    }

    /// A sentence for the console's choice of events.
    pub fn label(self) -> &'static str {
        match self {
            EventType::UserInvited => "A person is invited",
            EventType::UserRegistered => "A person completes registration",
            EventType::UserActivated => "An account becomes active",
            EventType::UserDeactivated => "A person is deactivated",
            EventType::UserReactivated => "A person is reactivated",
            EventType::UserAccessChanged => "A person's permissions, roles or locations change",
            EventType::RoleChanged => "A role is created or its permissions change",
            EventType::JobFinished => "An import, bulk update or directory batch finishes",
            EventType::EmergencyAccessGranted => {
                "Someone grants themselves emergency (break-glass) access"
            }
            EventType::EmergencyAccessEnded => "Emergency (break-glass) access ends at its expiry",
        }
    }

    pub fn parse(input: &str) -> Result<EventType, ValueError> {
        let key = input.trim();
        EventType::ALL
            .into_iter()
            .find(|t| t.key() == key)
            .ok_or_else(|| {
                ValueError::new(
                    "event_types",
                    "event_type_unknown",
                    format!(
                        "{} is not an event type. Choose from: {}.",
                        quoted(key),
                        all_keys()
                    ),
                )
            })
    }

    /// The event types an audited action gives, in order. `after` is the event's recorded
    /// after-state (JSON), which tells a profile edit that changed access from one that did not.
    pub fn of_audit(action: &str, after: Option<&str>) -> &'static [EventType] {
        use EventType::*;
        match action {
            "user.invited" | "user.provisioned" | "user.admin_created" => &[UserInvited],
            "registration.completed" => &[UserRegistered, UserActivated],
            "user.activated" => &[UserActivated],
            "user.deactivated" => &[UserDeactivated],
            "user.reactivated" => &[UserReactivated],
            "user.access_changed" => &[UserAccessChanged],
            "user.updated" if after.is_some_and(touches_access) => &[UserAccessChanged],
            "role.created" | "role.updated" => &[RoleChanged],
            "bulk_update.finished" | "import.finished" => &[JobFinished],
            // Emergency access changes access too: receivers that only follow access changes
            // hear of it as well.
            "emergency_access.granted" => &[EmergencyAccessGranted, UserAccessChanged],
            "emergency_access.ended" => &[EmergencyAccessEnded, UserAccessChanged],
            _ => &[],
        }
    }
}

/// Whether a profile edit's recorded change names access (permissions, roles, locations).
fn touches_access(after: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(after)
        .ok()
        .and_then(|v| {
            v.as_object().map(|o| {
                ["permissions", "roles", "locations"]
                    .iter()
                    .any(|k| o.contains_key(*k))
            })
        })
        .unwrap_or(false)
}

fn all_keys() -> String {
    EventType::ALL
        .iter()
        .map(|t| t.key())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A list of event types as typed or sent (separated by commas or spaces); at least one.
pub fn parse_event_types(input: &[String]) -> Result<Vec<EventType>, ValueError> {
    let mut out = Vec::new();
    for word in input
        .iter()
        .flat_map(|s| s.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|s| !s.is_empty())
    {
        let t = EventType::parse(word)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(ValueError::new(
            "event_types",
            "event_types_missing",
            format!("Choose at least one event type to receive: {}.", all_keys()),
        ));
    }
    out.sort();
    Ok(out)
}

/// Delays before each retry, after the first attempt failed: the schedule Standard Webhooks
/// suggests (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), in seconds. After the last, the
/// delivery is given up.
pub const RETRY_SCHEDULE_SECS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// When to try again after `attempts` failed attempts; `None`: give up.
pub fn retry_after_secs(attempts: i64) -> Option<i64> {
    usize::try_from(attempts - 1)
        .ok()
        .and_then(|i| RETRY_SCHEDULE_SECS.get(i).copied())
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (carrier-grade NAT), documentation, multicast, unspecified or otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064)
        }
    }
}

/// Whether an address is this machine's own.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v| v.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_actions_give_their_event_types() {
        assert_eq!(
            EventType::of_audit("user.deactivated", None),
            &[EventType::UserDeactivated]
        );
        assert_eq!(
            EventType::of_audit("registration.completed", None),
            &[EventType::UserRegistered, EventType::UserActivated]
        );
        assert!(EventType::of_audit("user.updated", Some(r#"{"mobile":"+1"}"#)).is_empty());
        assert_eq!(
            EventType::of_audit("user.updated", Some(r#"{"roles":["Front Desk"]}"#)),
            &[EventType::UserAccessChanged]
        );
        assert!(EventType::of_audit("org.settings_changed", None).is_empty());
        assert_eq!(
            EventType::of_audit("emergency_access.ended", None),
            &[
                EventType::EmergencyAccessEnded,
                EventType::UserAccessChanged
            ]
        );
    }

    #[test]
    fn event_type_lists_parse_and_name_the_valid_ones() {
        let ok = parse_event_types(&["user.deactivated, job.finished".into()]).unwrap();
        assert_eq!(ok, vec![EventType::UserDeactivated, EventType::JobFinished]);
        let e = parse_event_types(&["user.deleted".into()]).unwrap_err();
        assert!(e.message.contains("user.access_changed"), "{}", e.message);
        assert_eq!(
            parse_event_types(&[]).unwrap_err().code,
            "event_types_missing"
        );
    }

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1", "8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        assert_eq!(retry_after_secs(1), Some(5));
        assert_eq!(retry_after_secs(2), Some(300));
        assert_eq!(retry_after_secs(7), Some(36_000));
        assert_eq!(retry_after_secs(8), None);
    }
}
