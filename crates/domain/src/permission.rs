use crate::error::{ValueError, quoted};

/// Bumped whenever a key is added, so stored role definitions can be migrated knowingly.
pub const CATALOGUE_VERSION: u32 = 1;

/// A module of the catalogue, for grouping permissions on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Module {
    Calendar,
    Billing,
    Clinical,
    Soap,
    Administration,
}

impl Module {
    pub const ALL: [Module; 5] = [
        Module::Calendar,
        Module::Billing,
        Module::Clinical,
        Module::Soap,
        Module::Administration,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Module::Calendar => "Calendar",
            Module::Billing => "Billing",
            Module::Clinical => "Clinical",
            Module::Soap => "SOAP notes",
            Module::Administration => "Administration",
        }
    }

    pub fn permissions(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| p.module() == self)
    }
}

/// A permission of the catalogue. Keys are stable; labels are for people. Ordered as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    CalendarView,
    CalendarCreate,
    CalendarDelete,
    BillingPayments,
    BillingRefunds,
    BillingRevenueReports,
    ClinicalCharts,
    ClinicalNotes,
    ClinicalMedications,
    SoapStart,
    SoapForward,
    SoapFinish,
    AdminCompany,
    AdminClinic,
    UsersManage,
    UsersView,
    UsersBulkAdd,
    UsersInvite,
}

impl Permission {
    pub const ALL: [Permission; 18] = [
        Permission::CalendarView,
        Permission::CalendarCreate,
        Permission::CalendarDelete,
        Permission::BillingPayments,
        Permission::BillingRefunds,
        Permission::BillingRevenueReports,
        Permission::ClinicalCharts,
        Permission::ClinicalNotes,
        Permission::ClinicalMedications,
        Permission::SoapStart,
        Permission::SoapForward,
        Permission::SoapFinish,
        Permission::AdminCompany,
        Permission::AdminClinic,
        Permission::UsersManage,
        Permission::UsersView,
        Permission::UsersBulkAdd,
        Permission::UsersInvite,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Permission::CalendarView => "calendar.view",
            Permission::CalendarCreate => "calendar.create",
            Permission::CalendarDelete => "calendar.delete",
            Permission::BillingPayments => "billing.payments",
            Permission::BillingRefunds => "billing.refunds",
            Permission::BillingRevenueReports => "billing.revenue_reports",
            Permission::ClinicalCharts => "clinical.charts",
            Permission::ClinicalNotes => "clinical.notes",
            Permission::ClinicalMedications => "clinical.medications",
            Permission::SoapStart => "soap.start",
            Permission::SoapForward => "soap.forward",
            Permission::SoapFinish => "soap.finish",
            Permission::AdminCompany => "admin.company",
            Permission::AdminClinic => "admin.clinic",
            Permission::UsersManage => "users.manage",
            Permission::UsersView => "users.view",
            Permission::UsersBulkAdd => "users.bulk_add",
            Permission::UsersInvite => "users.invite",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Permission::CalendarView => "View appointments",
            Permission::CalendarCreate => "Create appointments",
            Permission::CalendarDelete => "Delete appointments",
            Permission::BillingPayments => "Take payments",
            Permission::BillingRefunds => "Issue refunds",
            Permission::BillingRevenueReports => "See revenue reports",
            Permission::ClinicalCharts => "Open patient charts",
            Permission::ClinicalNotes => "Write clinical notes",
            Permission::ClinicalMedications => "Manage medications",
            Permission::SoapStart => "Start SOAP notes",
            Permission::SoapForward => "Forward SOAP notes",
            Permission::SoapFinish => "Finish SOAP notes",
            Permission::AdminCompany => "Administer the company",
            Permission::AdminClinic => "Administer clinics",
            Permission::UsersManage => "Manage users",
            Permission::UsersView => "View users",
            Permission::UsersBulkAdd => "Bulk add users",
            Permission::UsersInvite => "Invite users",
        }
    }

    pub fn module(self) -> Module {
        match self {
            Permission::CalendarView | Permission::CalendarCreate | Permission::CalendarDelete => {
                Module::Calendar
            }
            Permission::BillingPayments
            | Permission::BillingRefunds
            | Permission::BillingRevenueReports => Module::Billing,
            Permission::ClinicalCharts
            | Permission::ClinicalNotes
            | Permission::ClinicalMedications => Module::Clinical,
            Permission::SoapStart | Permission::SoapForward | Permission::SoapFinish => {
                Module::Soap
            }
            Permission::AdminCompany
            | Permission::AdminClinic
            | Permission::UsersManage
            | Permission::UsersView
            | Permission::UsersBulkAdd
            | Permission::UsersInvite => Module::Administration,
        }
    }

    /// Parses a key such as `soap.finish` (case and surrounding spaces forgiven).
    pub fn parse(input: &str) -> Result<Permission, ValueError> {
        let wanted = input.trim();
        Permission::ALL
            .into_iter()
            .find(|p| p.key().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| unknown(&[wanted]))
    }
}

/// Parses a list of keys separated by `;`, `,` or white space; repeats are dropped and every
/// unknown key is reported at once.
pub fn parse_list(input: &str) -> Result<Vec<Permission>, ValueError> {
    let mut found = Vec::new();
    let mut unknown_keys = Vec::new();
    for key in input
        .split(|c: char| c == ';' || c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
    {
        match Permission::parse(key) {
            Ok(p) if !found.contains(&p) => found.push(p),
            Ok(_) => {}
            Err(_) => unknown_keys.push(key),
        }
    }
    if unknown_keys.is_empty() {
        Ok(found)
    } else {
        Err(unknown(&unknown_keys))
    }
}

fn unknown(keys: &[&str]) -> ValueError {
    let valid: Vec<&str> = Permission::ALL.iter().map(|p| p.key()).collect();
    let named: Vec<String> = keys.iter().map(|k| quoted(k)).collect();
    let what = if keys.len() == 1 {
        format!("{} is not a permission key", named[0])
    } else {
        format!("{} are not permission keys", named.join(", "))
    };
    ValueError::new(
        "permissions",
        "permission_unknown",
        format!("{what}. The valid keys are: {}.", valid.join(", ")),
    )
}

string_value!(Permission, key, Permission::parse);
key_schema!(
    Permission,
    key,
    "A permission of the catalogue, by its key."
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn catalogue_is_complete_and_consistent() {
        let keys: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.key()).collect();
        let labels: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.label()).collect();
        assert_eq!(keys.len(), Permission::ALL.len());
        assert_eq!(labels.len(), Permission::ALL.len());
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.key()).unwrap(), p);
            let module = p.key().split('.').next().unwrap();
            let expected = match module {
                "calendar" => Module::Calendar,
                "billing" => Module::Billing,
                "clinical" => Module::Clinical,
                "soap" => Module::Soap,
                _ => Module::Administration,
            };
            assert_eq!(p.module(), expected, "{p:?}");
        }
        let counted: usize = Module::ALL.iter().map(|m| m.permissions().count()).sum();
        assert_eq!(counted, Permission::ALL.len());
        assert_eq!(Permission::SoapFinish.label(), "Finish SOAP notes");
        assert_eq!(Module::Soap.label(), "SOAP notes");
    }

    #[test]
    fn parse_forgives_case_and_spaces() {
        assert_eq!(
            Permission::parse(" Soap.Finish ").unwrap(),
            Permission::SoapFinish
        );
    }

    #[test]
    fn unknown_key_says_which_keys_exist() {
        let e = Permission::parse("soap.sign").unwrap_err();
        assert_eq!(e.code, "permission_unknown");
        assert!(e.message.contains("“soap.sign”"));
        assert!(e.message.contains("soap.finish"));
    }

    #[test]
    fn parses_lists() {
        assert_eq!(
            parse_list("calendar.view; soap.start,\n soap.start  users.view").unwrap(),
            [
                Permission::CalendarView,
                Permission::SoapStart,
                Permission::UsersView
            ]
        );
        assert_eq!(parse_list("  ").unwrap(), []);
        let e = parse_list("calendar.view;x;y").unwrap_err();
        assert!(
            e.message.contains("“x”, “y” are not permission keys"),
            "{}",
            e.message
        );
    }

    #[test]
    fn serde_uses_the_key() {
        use serde::de::{Deserialize, IntoDeserializer, value::Error};
        let p =
            Permission::deserialize(IntoDeserializer::<Error>::into_deserializer("admin.clinic"));
        assert_eq!(p.unwrap(), Permission::AdminClinic);
        assert_eq!(Permission::AdminClinic.to_string(), "admin.clinic");
    }
}
