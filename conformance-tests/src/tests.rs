//! The suite's own bookkeeping: the macro's list of cases is complete, and the hostile-input
//! cases try as many inputs as they promise.

use crate::{Capability, CASES};
use std::collections::BTreeSet;

/// Each case module's source, to find the `pub async fn` cases it defines.
const MODULES: &[(&str, &str)] = &[
    ("attached", include_str!("attached.rs")),
    ("concurrency", include_str!("concurrency.rs")),
    ("connect", include_str!("connect.rs")),
    ("deletion", include_str!("deletion.rs")),
    ("documents", include_str!("documents.rs")),
    ("failed_migrations", include_str!("failed_migrations.rs")),
    ("hand_edits", include_str!("hand_edits.rs")),
    ("ids", include_str!("ids.rs")),
    ("locking", include_str!("locking.rs")),
    ("migrations", include_str!("migrations.rs")),
    ("names", include_str!("names.rs")),
    ("namespaces", include_str!("namespaces.rs")),
    ("processes", include_str!("processes.rs")),
    ("properties", include_str!("properties.rs")),
    ("rolling_upgrade", include_str!("rolling_upgrade.rs")),
    ("schema_states", include_str!("schema_states.rs")),
    ("soundness", include_str!("soundness.rs")),
    ("store_semantics", include_str!("store_semantics.rs")),
    ("versions", include_str!("versions.rs")),
    ("wait_for_schema", include_str!("wait_for_schema.rs")),
];

/// Adding a `pub async fn` case without listing it in the macro fails here.
#[test]
fn every_case_function_is_listed_once() {
    let mut defined = Vec::new();
    for (module, source) in MODULES {
        for line in source.lines() {
            if let Some(rest) = line.strip_prefix("pub async fn ") {
                let name = rest.split('<').next().expect("a name");
                defined.push(format!("{module}::{name}"));
            }
        }
    }
    let mut listed: Vec<String> = CASES.iter().map(|c| c.name.to_string()).collect();
    defined.sort();
    listed.sort();
    assert_eq!(
        defined, listed,
        "the macro's list and the case functions differ"
    );
}

/// Adding a case module without reading it above fails here: every `pub mod` of lib.rs is a
/// case module (support code is private).
#[test]
fn every_case_module_is_read_by_the_listing_test() {
    let declared: BTreeSet<&str> = include_str!("lib.rs")
        .lines()
        .filter_map(|line| line.strip_prefix("pub mod "))
        .filter_map(|rest| rest.strip_suffix(';'))
        .collect();
    let read: BTreeSet<&str> = MODULES.iter().map(|(module, _)| *module).collect();
    assert_eq!(declared, read);
}

/// A capability no case needs would let a backend "lack" it for free.
#[test]
fn every_capability_is_needed_by_a_case() {
    for capability in Capability::ALL {
        assert!(
            CASES.iter().any(|case| case.needs.contains(&capability)),
            "no case needs {capability}"
        );
    }
}

/// The hostile-input cases together try at least 50 inputs on every backend (as the
/// hand-written runs they replace did).
#[test]
fn hostile_input_cases_try_at_least_fifty_inputs() {
    let tried = crate::names::hostile_names().len()
        + crate::names::invalid_names().len()
        + crate::versions::invalid_versions().len()
        + crate::documents::invalid_schema_documents().len()
        + crate::documents::invalid_attached_documents().len()
        + crate::documents::ACCEPTED_ODD_DOCUMENTS;
    assert!(tried >= 50, "only {tried} hostile inputs");
}
