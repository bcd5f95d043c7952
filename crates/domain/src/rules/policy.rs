use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{Forbidden, Names, Refusal, RuleId, Subject};
use crate::permission::Permission;
use crate::user_type::{UserTypeDef, builtin_user_types, parse_code};

/// An organization's rules as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub user_types: Vec<UserTypeDef>,
    pub permission_tags: BTreeMap<Permission, BTreeSet<String>>,
    pub forbidden: Vec<Forbidden>,
    /// Permissions with this tag cannot be removed by a bulk update (rule 3).
    pub protected_tag: String,
}

impl Policy {
    /// The rules of the specification over the built-in user types.
    pub fn standard() -> Policy {
        let tag = |tags: &[&str]| tags.iter().map(|t| (*t).to_owned()).collect();
        let permission_tags = BTreeMap::from([
            (Permission::SoapStart, tag(&["soap"])),
            (Permission::SoapForward, tag(&["soap"])),
            (Permission::SoapFinish, tag(&["soap", "soap_sign"])),
            (Permission::AdminCompany, tag(&["admin"])),
            (Permission::AdminClinic, tag(&["admin"])),
        ]);
        let forbid = |rule, user_type_tag: &str, permission_tag: &str| Forbidden {
            rule,
            user_type_tag: user_type_tag.to_owned(),
            permission_tag: permission_tag.to_owned(),
        };
        Policy {
            user_types: builtin_user_types(),
            permission_tags,
            forbidden: vec![
                forbid(RuleId::NoSoapForNonClinical, "non_clinical", "soap"),
                forbid(RuleId::NoSoapFinishForSupervised, "assistant", "soap_sign"),
                forbid(RuleId::NoSoapFinishForSupervised, "student", "soap_sign"),
            ],
            protected_tag: "admin".to_owned(),
        }
    }

    /// The definition of a user type, by code or by anything `parse_code` normalizes to it.
    pub fn user_type(&self, code: &str) -> Option<&UserTypeDef> {
        self.user_types.iter().find(|t| t.code == code).or_else(|| {
            let code = parse_code(code);
            self.user_types.iter().find(|t| t.code == code)
        })
    }

    pub fn permission_has_tag(&self, p: Permission, tag: &str) -> bool {
        self.permission_tags
            .get(&p)
            .is_some_and(|tags| tags.contains(tag))
    }

    /// Whether a bulk update must leave this permission in place.
    pub fn is_protected(&self, p: Permission) -> bool {
        self.permission_has_tag(p, &self.protected_tag)
    }

    /// The rule that forbids users of this type to hold `p`, if any.
    pub fn forbidden_for_type(&self, user_type: Option<&str>, p: Permission) -> Option<RuleId> {
        self.forbidding(user_type, p).map(|f| f.rule)
    }

    pub(super) fn forbidding(&self, user_type: Option<&str>, p: Permission) -> Option<&Forbidden> {
        let def = self.user_type(user_type?)?;
        self.forbidden.iter().find(|f| {
            def.has_tag(&f.user_type_tag) && self.permission_has_tag(p, &f.permission_tag)
        })
    }

    /// What the subject may actually do: direct and role grants, minus what their type forbids.
    /// The filtered permissions come back with the reason, to show on the profile.
    pub fn effective(
        &self,
        subject: &Subject,
        _names: &dyn Names,
    ) -> (BTreeSet<Permission>, Vec<(Permission, Refusal)>) {
        let mut kept = BTreeSet::new();
        let mut filtered = Vec::new();
        for &p in subject.direct.union(&subject.role_permissions) {
            match self.forbidding(subject.user_type.as_deref(), p) {
                None => {
                    kept.insert(p);
                }
                Some(f) => {
                    let message = format!(
                        "Rule {}: {} is {}; {}, so “{}” is not in effect for them.",
                        f.rule.number(),
                        subject.display_name,
                        self.type_phrase(subject.user_type.as_deref()),
                        f.rule.summary(),
                        p.label()
                    );
                    filtered.push((p, refusal(f.rule, f.rule.code(), subject, message)));
                }
            }
        }
        (kept, filtered)
    }

    /// `effective` without the explanations, for counting.
    pub(super) fn effective_set(&self, subject: &Subject) -> BTreeSet<Permission> {
        subject
            .direct
            .union(&subject.role_permissions)
            .copied()
            .filter(|&p| self.forbidding(subject.user_type.as_deref(), p).is_none())
            .collect()
    }

    /// "a Billing user", "an SLPA user", for messages.
    pub(super) fn type_phrase(&self, code: Option<&str>) -> String {
        let name = match code {
            None => return "without a user type".to_owned(),
            Some(code) => self.user_type(code).map_or(code, |t| t.short_label()),
        };
        format!("{} {name} user", article(name))
    }
}

pub(super) fn refusal(
    rule: RuleId,
    code: &'static str,
    subject: &Subject,
    message: String,
) -> Refusal {
    Refusal {
        rule,
        code,
        user_id: subject.user_id,
        message,
    }
}

/// "a" or "an", reading an all-capitals word letter by letter (an SLP, a PTA).
fn article(word: &str) -> &'static str {
    let Some(first) = word.chars().next() else {
        return "a";
    };
    let spelled = word.chars().count() > 1 && word.chars().all(|c| c.is_ascii_uppercase());
    let vowel_sound = if spelled {
        "AEFHILMNORSX".contains(first)
    } else {
        "AEIOUaeiou".contains(first)
    };
    if vowel_sound { "an" } else { "a" }
}
