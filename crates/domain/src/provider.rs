use serde::{Deserialize, Serialize};

use crate::error::{ValueError, quoted};

/// The grid, in minutes, on which a provider's appointments start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct SchedulingStep(u16);

impl SchedulingStep {
    pub const ALLOWED: [u16; 7] = [5, 10, 15, 20, 30, 45, 60];

    pub fn new(minutes: u16) -> Result<SchedulingStep, ValueError> {
        if Self::ALLOWED.contains(&minutes) {
            Ok(SchedulingStep(minutes))
        } else {
            Err(Self::invalid(&minutes.to_string()))
        }
    }

    pub fn parse(input: &str) -> Result<SchedulingStep, ValueError> {
        let typed = input.trim();
        typed
            .parse::<u16>()
            .map_err(|_| Self::invalid(typed))
            .and_then(Self::new)
    }

    pub fn minutes(self) -> u16 {
        self.0
    }

    fn invalid(typed: &str) -> ValueError {
        ValueError::new(
            "scheduling_step",
            "scheduling_step_invalid",
            format!(
                "{} is not a scheduling step: choose 5, 10, 15, 20, 30, 45 or 60 minutes.",
                quoted(typed)
            ),
        )
    }
}

impl Default for SchedulingStep {
    fn default() -> Self {
        SchedulingStep(15)
    }
}

impl TryFrom<u16> for SchedulingStep {
    type Error = ValueError;
    fn try_from(minutes: u16) -> Result<Self, ValueError> {
        SchedulingStep::new(minutes)
    }
}

impl From<SchedulingStep> for u16 {
    fn from(step: SchedulingStep) -> u16 {
        step.0
    }
}

/// How many appointments a provider can hold at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Capacity(u16);

impl Capacity {
    pub const MAX: u16 = 50;

    pub fn new(at_once: u16) -> Result<Capacity, ValueError> {
        if (1..=Self::MAX).contains(&at_once) {
            Ok(Capacity(at_once))
        } else {
            Err(Self::invalid(&at_once.to_string()))
        }
    }

    pub fn parse(input: &str) -> Result<Capacity, ValueError> {
        let typed = input.trim();
        typed
            .parse::<u16>()
            .map_err(|_| Self::invalid(typed))
            .and_then(Self::new)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    fn invalid(typed: &str) -> ValueError {
        ValueError::new(
            "capacity",
            "capacity_invalid",
            format!(
                "{} is not a capacity: enter how many appointments the provider can hold at once, from 1 to 50.",
                quoted(typed)
            ),
        )
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity(1)
    }
}

impl TryFrom<u16> for Capacity {
    type Error = ValueError;
    fn try_from(at_once: u16) -> Result<Self, ValueError> {
        Capacity::new(at_once)
    }
}

impl From<Capacity> for u16 {
    fn from(capacity: Capacity) -> u16 {
        capacity.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduling_step_accepts_only_the_grid() {
        for m in SchedulingStep::ALLOWED {
            assert_eq!(SchedulingStep::new(m).unwrap().minutes(), m);
        }
        assert_eq!(SchedulingStep::parse(" 45 ").unwrap().minutes(), 45);
        for bad in ["0", "25", "90", "", "15m", "-5"] {
            assert_eq!(
                SchedulingStep::parse(bad).expect_err(bad).code,
                "scheduling_step_invalid"
            );
        }
        assert!(SchedulingStep::new(7).is_err());
    }

    #[test]
    fn capacity_is_between_one_and_fifty() {
        assert_eq!(Capacity::new(1).unwrap().get(), 1);
        assert_eq!(Capacity::parse("50").unwrap().get(), 50);
        for bad in ["0", "51", "x", ""] {
            assert_eq!(
                Capacity::parse(bad).expect_err(bad).code,
                "capacity_invalid"
            );
        }
    }

    #[test]
    fn deserialization_validates() {
        use serde::de::{IntoDeserializer, value::Error};
        let ok = SchedulingStep::deserialize(IntoDeserializer::<Error>::into_deserializer(30u16));
        assert_eq!(ok.unwrap().minutes(), 30);
        let bad = Capacity::deserialize(IntoDeserializer::<Error>::into_deserializer(0u16));
        assert!(bad.is_err());
    }
}
