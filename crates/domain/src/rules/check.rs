use super::census::AdminCensus;
use super::policy::refusal;
use super::{Actor, Change, Names, Path, Plan, Policy, Refusal, RuleId, Subject};
use crate::permission::Permission;

/// One change to one user, and what the rules besides need to judge it.
#[derive(Clone, Copy)]
struct Case<'a> {
    subject: &'a Subject,
    change: &'a Change,
    path: Path,
    census: Option<&'a AdminCensus>,
    names: &'a dyn Names,
}

/// Holding any of these lets an actor change users; `users.view` alone does not (rule 6).
/// Which of them a given screen or endpoint needs is for that screen to decide.
const CHANGES_USERS: [Permission; 5] = [
    Permission::UsersManage,
    Permission::UsersInvite,
    Permission::UsersBulkAdd,
    Permission::AdminCompany,
    Permission::AdminClinic,
];

impl Policy {
    /// Rule 6: may the actor change anything at all?
    pub fn may_change_users(actor: &Actor) -> Result<(), Refusal> {
        if CHANGES_USERS.iter().any(|&p| actor.holds(p)) {
            return Ok(());
        }
        let message = if actor.holds(Permission::UsersView) {
            "Rule 6: you can view users but not change them; ask an administrator for the “Manage users” permission."
        } else {
            "Rule 6: you have no permission to change users; ask an administrator for the “Manage users” permission."
        };
        Err(Refusal {
            rule: RuleId::ViewerReadOnly,
            code: RuleId::ViewerReadOnly.code(),
            user_id: actor.user_id,
            message: message.to_owned(),
        })
    }

    /// Checks one change to one user against every rule; the first rule broken is reported.
    /// `census` enables the last-admin part of rule 3; without it only the bulk-update part holds.
    pub fn check(
        &self,
        actor: &Actor,
        subject: &Subject,
        change: &Change,
        path: Path,
        census: Option<&AdminCensus>,
        names: &dyn Names,
    ) -> Result<(), Refusal> {
        Policy::may_change_users(actor).map_err(|r| Refusal {
            user_id: subject.user_id,
            ..r
        })?;
        let case = Case {
            subject,
            change,
            path,
            census,
            names,
        };
        self.check_actor_scope(actor, case)?;
        self.check_default_location(case)?;
        self.check_forbidden_pairs(case)?;
        self.check_admins_kept(case)
    }

    /// Checks and applies `changes` in order to a copy of the subject; a refused change is
    /// skipped and the next ones are checked against the user as they then stand.
    pub fn plan(
        &self,
        actor: &Actor,
        subject: &Subject,
        changes: &[Change],
        path: Path,
        census: Option<&AdminCensus>,
        names: &dyn Names,
    ) -> Plan {
        let mut after = subject.clone();
        let mut census = census.cloned();
        let mut applied = Vec::new();
        let mut refused = Vec::new();
        for change in changes {
            match self.check(actor, &after, change, path, census.as_ref(), names) {
                Ok(()) => {
                    let was = census.as_ref().map(|_| self.standing(&after));
                    after.apply(change, path);
                    if let (Some(census), Some(was)) = (census.as_mut(), was) {
                        census.shift(&was, &self.standing(&after));
                    }
                    applied.push(change.clone());
                }
                Err(why) => refused.push((change.clone(), why)),
            }
        }
        Plan {
            applied,
            refused,
            after,
        }
    }

    /// Rule 4, for any change to a user's account (names and credentials too): the user must
    /// work at one of the actor's locations.
    pub fn check_reach(&self, actor: &Actor, subject: &Subject) -> Result<(), Refusal> {
        if !subject.locations.is_empty() && subject.locations.is_disjoint(&actor.locations) {
            return Err(refusal(
                RuleId::ActorScope,
                "rule_4_user_out_of_scope",
                subject,
                format!(
                    "Rule 4: {} works only at locations you do not have access to, so you cannot change their account.",
                    subject.display_name
                ),
            ));
        }
        Ok(())
    }

    /// Rule 4: the actor's own locations and permissions bound what they can hand out.
    fn check_actor_scope(&self, actor: &Actor, case: Case) -> Result<(), Refusal> {
        let rule = RuleId::ActorScope;
        let name = &case.subject.display_name;
        self.check_reach(actor, case.subject)?;
        match case.change {
            Change::GrantLocation(l)
            | Change::RevokeLocation(l)
            | Change::SetDefaultLocation(l)
                if !actor.locations.contains(l) =>
            {
                let what = match case.change {
                    Change::GrantLocation(_) => format!("give {name} access to it"),
                    Change::RevokeLocation(_) => format!("remove {name}'s access to it"),
                    _ => format!("make it {name}'s default location"),
                };
                Err(refusal(
                    rule,
                    "rule_4_location_out_of_scope",
                    case.subject,
                    format!(
                        "Rule 4: you do not have access to {}, so you cannot {what}.",
                        case.names.location_name(*l)
                    ),
                ))
            }
            Change::GrantPermission(p)
                if !actor.holds(*p) && !actor.holds(Permission::AdminCompany) =>
            {
                Err(refusal(
                    rule,
                    "rule_4_escalation",
                    case.subject,
                    format!(
                        "Rule 4: you do not hold “{}” yourself, so you cannot grant it to {name}.",
                        p.label()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Rule 5: the default location is always one the user can access.
    fn check_default_location(&self, case: Case) -> Result<(), Refusal> {
        let rule = RuleId::DefaultLocationKept;
        let name = &case.subject.display_name;
        match case.change {
            Change::RevokeLocation(l) if case.subject.default_location == Some(*l) => Err(refusal(
                rule,
                rule.code(),
                case.subject,
                format!(
                    "Rule 5: {} is {name}'s default location, so it cannot be removed from their access; choose another default location first.",
                    case.names.location_name(*l)
                ),
            )),
            Change::SetDefaultLocation(l) if !case.subject.locations.contains(l) => Err(refusal(
                rule,
                "rule_5_default_not_accessible",
                case.subject,
                format!(
                    "Rule 5: {name} does not have access to {}, so it cannot be their default location; give them access to it first.",
                    case.names.location_name(*l)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Rules 1 and 2, and any pairing an organization adds. A role edit is not refused: the
    /// role's grant is filtered for the members whose type forbids it (see `effective`).
    fn check_forbidden_pairs(&self, case: Case) -> Result<(), Refusal> {
        let name = &case.subject.display_name;
        match case.change {
            Change::GrantPermission(p) if case.path != Path::RoleEdit => {
                match self.forbidding(case.subject.user_type.as_deref(), *p) {
                    None => Ok(()),
                    Some(f) => Err(refusal(
                        f.rule,
                        f.rule.code(),
                        case.subject,
                        format!(
                            "Rule {}: {name} is {}; {} ({}).",
                            f.rule.number(),
                            self.type_phrase(case.subject.user_type.as_deref()),
                            f.rule.summary(),
                            p.label()
                        ),
                    )),
                }
            }
            Change::SetUserType(code) => {
                let clash = case
                    .subject
                    .direct
                    .iter()
                    .find_map(|&p| self.forbidding(Some(code), p).map(|f| (p, f)));
                match clash {
                    None => Ok(()),
                    Some((p, f)) => Err(refusal(
                        f.rule,
                        f.rule.code(),
                        case.subject,
                        format!(
                            "Rule {}: {name} holds “{}”, and {}, so they cannot become {}; remove the permission first.",
                            f.rule.number(),
                            p.label(),
                            f.rule.summary(),
                            self.type_phrase(Some(code))
                        ),
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    /// Rule 3: bulk updates leave admin rights alone, and no change leaves a clinic or the
    /// company without an active admin.
    fn check_admins_kept(&self, case: Case) -> Result<(), Refusal> {
        let rule = RuleId::KeepAdmins;
        let name = &case.subject.display_name;
        // Only someone who holds the right can lose it; for the others the change is moot.
        if let Change::RevokePermission(p) = case.change
            && case.path == Path::BulkUpdate
            && self.is_protected(*p)
            && (case.subject.direct.contains(p) || case.subject.role_permissions.contains(p))
        {
            return Err(refusal(
                rule,
                "rule_3_bulk_keeps_admin",
                case.subject,
                format!(
                    "Rule 3: a bulk update cannot remove “{}” from {name}; change it on their profile instead.",
                    p.label()
                ),
            ));
        }
        let Some(census) = case.census else {
            return Ok(());
        };
        let may_lower = matches!(
            case.change,
            Change::RevokePermission(_)
                | Change::RevokeLocation(_)
                | Change::SetUserType(_)
                | Change::Deactivate
        );
        if !may_lower || !case.subject.active {
            return Ok(());
        }
        let was = self.standing(case.subject);
        if !was.company && was.clinics.is_empty() {
            return Ok(());
        }
        let mut after = case.subject.clone();
        after.apply(case.change, case.path);
        let now = self.standing(&after);
        if was.company && !now.company && census.company_admins <= 1 {
            return Err(refusal(
                rule,
                "rule_3_last_company_admin",
                case.subject,
                format!(
                    "Rule 3: {name} is the company's last active admin, so this change would leave the company without one; make someone else a company admin first."
                ),
            ));
        }
        if let Some(orphaned) = was
            .clinics
            .difference(&now.clinics)
            .find(|l| census.clinic_admins_at(**l) <= 1)
        {
            return Err(refusal(
                rule,
                "rule_3_last_clinic_admin",
                case.subject,
                format!(
                    "Rule 3: {name} is the last active clinic admin of {}, so this change would leave it without one; make someone else a clinic admin there first.",
                    case.names.location_name(*orphaned)
                ),
            ));
        }
        Ok(())
    }
}
