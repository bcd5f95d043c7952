use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Policy, Subject};
use crate::permission::Permission;

/// How many active admins the company and each location have, so that rule 3 can tell whether
/// a change would remove the last one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCensus {
    /// Active users holding `admin.company`.
    pub company_admins: usize,
    /// Per location: active users holding `admin.clinic` with access to it.
    pub clinic_admins: BTreeMap<Uuid, usize>,
}

/// What one user contributes to the census.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Standing {
    pub company: bool,
    pub clinics: BTreeSet<Uuid>,
}

impl Policy {
    pub(super) fn standing(&self, subject: &Subject) -> Standing {
        if !subject.active {
            return Standing::default();
        }
        let held = self.effective_set(subject);
        Standing {
            company: held.contains(&Permission::AdminCompany),
            clinics: if held.contains(&Permission::AdminClinic) {
                subject.locations.clone()
            } else {
                BTreeSet::new()
            },
        }
    }

    /// Counts the admins among `subjects`.
    pub fn census<'a>(&self, subjects: impl IntoIterator<Item = &'a Subject>) -> AdminCensus {
        let mut census = AdminCensus::default();
        for subject in subjects {
            census.shift(&Standing::default(), &self.standing(subject));
        }
        census
    }

    /// Brings the census up to date after `before` became `after`. Call it between users when
    /// planning changes for several of them, so each plan sees the admins the previous left.
    pub fn update_census(&self, census: &mut AdminCensus, before: &Subject, after: &Subject) {
        census.shift(&self.standing(before), &self.standing(after));
    }
}

impl AdminCensus {
    pub fn clinic_admins_at(&self, location: Uuid) -> usize {
        self.clinic_admins.get(&location).copied().unwrap_or(0)
    }

    pub(super) fn shift(&mut self, was: &Standing, now: &Standing) {
        match (was.company, now.company) {
            (true, false) => self.company_admins = self.company_admins.saturating_sub(1),
            (false, true) => self.company_admins += 1,
            _ => {}
        }
        for lost in was.clinics.difference(&now.clinics) {
            let count = self.clinic_admins.entry(*lost).or_default();
            *count = count.saturating_sub(1);
        }
        for gained in now.clinics.difference(&was.clinics) {
            *self.clinic_admins.entry(*gained).or_default() += 1;
        }
    }
}
