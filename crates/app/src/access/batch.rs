//! Several access changes in one transaction (a reviewer's selection, a list of
//! deactivations), judged by the rules one after another. The organization, its location names
//! and the admin census are read once, and the census follows each applied change, so a
//! selection counts every admin once rather than once per person (rule 3).

use std::collections::BTreeMap;

use rollcall_domain::{AdminCensus, Policy, Subject};
use rollcall_store::Conn;
use uuid::Uuid;

use crate::access::{OrgScope, admin_census, location_names};
use crate::{AppError, Principal};

pub(crate) struct Batch<'a> {
    pub who: &'a Principal,
    pub scope: OrgScope,
    /// Location names for the rules' sentences.
    pub names: BTreeMap<Uuid, String>,
    pub now: i64,
    census: Option<AdminCensus>,
}

impl<'a> Batch<'a> {
    pub(crate) async fn open(
        conn: &mut Conn,
        who: &'a Principal,
        now: i64,
    ) -> Result<Batch<'a>, AppError> {
        Ok(Batch {
            who,
            scope: OrgScope::load(conn, who.org_id).await?,
            names: location_names(conn, who.org_id).await?,
            now,
            census: None,
        })
    }

    /// What the rules judge with: the policy, the admin census (counted on first use) and the
    /// location names.
    pub(crate) async fn rules(
        &mut self,
        conn: &mut Conn,
    ) -> Result<(&Policy, &AdminCensus, &BTreeMap<Uuid, String>), AppError> {
        if self.census.is_none() {
            let census = admin_census(conn, self.scope.org.id, &self.scope.policy).await?;
            self.census = Some(census);
        }
        let census = self.census.as_ref().expect("counted above");
        Ok((&self.scope.policy, census, &self.names))
    }

    /// Brings the census up to date once `before` became `after`, for the next change.
    pub(crate) fn applied(&mut self, before: &Subject, after: &Subject) {
        if let Some(census) = self.census.as_mut() {
            self.scope.policy.update_census(census, before, after);
        }
    }
}
