use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

/// Location names for refusal messages: the rules work on ids, people read names.
pub trait Names {
    fn location_name(&self, id: Uuid) -> String;
}

fn unknown(id: Uuid) -> String {
    format!("location {id}")
}

impl Names for BTreeMap<Uuid, String> {
    fn location_name(&self, id: Uuid) -> String {
        self.get(&id).cloned().unwrap_or_else(|| unknown(id))
    }
}

impl Names for HashMap<Uuid, String> {
    fn location_name(&self, id: Uuid) -> String {
        self.get(&id).cloned().unwrap_or_else(|| unknown(id))
    }
}

impl<F: Fn(Uuid) -> String> Names for F {
    fn location_name(&self, id: Uuid) -> String {
        self(id)
    }
}
