//! Capabilities: what the contract asks of a backend that not every backend can do, declared
//! as data (as OpenDAL's services declare theirs) rather than guessed or silently skipped.

use std::fmt;

/// Something some cases need that a backend may lack. A backend that lacks one says so, with
/// the reason, in its [`conformance_suite!`](crate::conformance_suite) invocation:
///
/// ```text
/// conformance_suite!(MemoryHarness::default(), lacks: [
///     separate_processes => "the database lives in this process's memory",
/// ]);
/// ```
///
/// The cases that need it ([`Case::needs`](crate::Case::needs)) are then not generated for
/// that backend, and the generated test `lacked_capabilities_are_declared_with_reasons`
/// checks the declaration itself; every other case runs. The spelling in `lacks:` is
/// [`Capability::name`]; an unknown name does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Capability {
    /// Separate OS processes open one database by its locator: they see each other's writes
    /// and coordinate their migrations through the backend's lock (several application
    /// servers, or deployers, on one database).
    SeparateProcesses,
    /// [`ConnectOptions::namespace`](pycharter_core::ConnectOptions::namespace) selects an
    /// independent schema inside one database (a Postgres schema per tenant).
    Namespaces,
    /// A migration step can fail halfway (its SQL errors after a first statement took
    /// effect), so the rollback of a failed step can be observed:
    /// [`BackendHarness::failing_migration`](crate::BackendHarness::failing_migration).
    FailingMigrations,
}

impl Capability {
    /// Every capability.
    pub const ALL: [Capability; 3] = [
        Capability::SeparateProcesses,
        Capability::Namespaces,
        Capability::FailingMigrations,
    ];

    /// The name used in `conformance_suite!(…, lacks: [name => "why"])`.
    pub fn name(self) -> &'static str {
        match self {
            Capability::SeparateProcesses => "separate_processes",
            Capability::Namespaces => "namespaces",
            Capability::FailingMigrations => "failing_migrations",
        }
    }

    /// The capability spelled `name`, if any.
    pub fn from_name(name: &str) -> Option<Capability> {
        Capability::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One capability a backend lacks, and why (as declared in its `conformance_suite!`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lack {
    /// What it cannot do.
    pub capability: Capability,
    /// Why, in a sentence a reviewer can check.
    pub reason: &'static str,
}

/// What a harness method of a capability does when the harness does not provide it: fail
/// the case, saying what to do.
pub(crate) fn unsupported(capability: Capability) -> ! {
    panic!(
        "this harness does not provide capability `{capability}`: implement it, or declare \
         `lacks: [{capability} => \"why\"]` in its conformance_suite! invocation"
    )
}

/// Checks a backend's declared lacks: each names a known capability once, with a reason.
/// Run by the generated test `lacked_capabilities_are_declared_with_reasons`.
pub fn check_declared_lacks(lacks: &[Lack]) {
    for (i, lack) in lacks.iter().enumerate() {
        assert!(
            lack.reason.trim().len() >= 10,
            "{}: say why the backend lacks it (got {:?})",
            lack.capability,
            lack.reason
        );
        assert!(
            !lacks[..i].iter().any(|l| l.capability == lack.capability),
            "{} is declared twice",
            lack.capability
        );
    }
}

/// The names `conformance_suite!` accepts after `lacks:` and in a case's `[needs]`, each the
/// [`Capability`] of that [`Capability::name`] (so a misspelt name does not compile).
#[doc(hidden)]
#[allow(non_upper_case_globals)]
pub mod names {
    use super::Capability;

    /// [`Capability::SeparateProcesses`].
    pub const separate_processes: Capability = Capability::SeparateProcesses;
    /// [`Capability::Namespaces`].
    pub const namespaces: Capability = Capability::Namespaces;
    /// [`Capability::FailingMigrations`].
    pub const failing_migrations: Capability = Capability::FailingMigrations;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_has_the_name_the_macro_spells() {
        assert_eq!(names::separate_processes.name(), "separate_processes");
        assert_eq!(names::namespaces.name(), "namespaces");
        assert_eq!(names::failing_migrations.name(), "failing_migrations");
        for capability in Capability::ALL {
            assert_eq!(Capability::from_name(capability.name()), Some(capability));
        }
    }

    #[test]
    #[should_panic(expected = "say why")]
    fn a_lack_without_a_reason_is_refused() {
        check_declared_lacks(&[Lack {
            capability: Capability::Namespaces,
            reason: "",
        }]);
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn a_lack_declared_twice_is_refused() {
        let lack = Lack {
            capability: Capability::Namespaces,
            reason: "one namespace per file",
        };
        check_declared_lacks(&[lack, lack]);
    }
}
