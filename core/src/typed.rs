//! The typed methods users call on any store: `store_schema`, `get_schema`, the five attached
//! kinds, `delete_schema`. They take a version as text (`"1.2.0"`, parsed once, here) or as
//! the [`ContractVersion`] a record carries (no re-parse), and call the five dyn-compatible
//! methods of [`MetadataStore`]. Written once, for every store: backends, layers and mocks.

use crate::artifact::{ArtifactId, ArtifactKind, ArtifactRecord, VersionSelector};
use crate::error::Result;
use crate::store::MetadataStore;
use crate::version::ContractVersion;
use serde_json::Value;
use std::future::Future;

/// A version argument: text to parse, or an already parsed [`ContractVersion`].
///
/// ```
/// use pycharter_core::{ContractVersion, IntoVersion};
/// let parsed: ContractVersion = "1.2.0".parse()?;
/// assert_eq!("1.2.0".into_version()?, parsed);
/// assert_eq!((&parsed).into_version()?, parsed);
/// let err = "1.2".into_version().unwrap_err();
/// assert!(err.to_string().contains("1.2"));
/// # Ok::<(), pycharter_core::Error>(())
/// ```
pub trait IntoVersion {
    /// The version, or [`Error::InvalidVersion`](crate::Error::InvalidVersion).
    fn into_version(self) -> Result<ContractVersion>;
}

impl IntoVersion for &str {
    fn into_version(self) -> Result<ContractVersion> {
        ContractVersion::parse(self)
    }
}

impl IntoVersion for &&str {
    fn into_version(self) -> Result<ContractVersion> {
        ContractVersion::parse(self)
    }
}

impl IntoVersion for &String {
    fn into_version(self) -> Result<ContractVersion> {
        ContractVersion::parse(self)
    }
}

impl IntoVersion for String {
    fn into_version(self) -> Result<ContractVersion> {
        ContractVersion::parse(&self)
    }
}

impl IntoVersion for &ContractVersion {
    fn into_version(self) -> Result<ContractVersion> {
        Ok(self.clone())
    }
}

impl IntoVersion for ContractVersion {
    fn into_version(self) -> Result<ContractVersion> {
        Ok(self)
    }
}

/// Which version a `get_*` wants: `None` (the latest by semver), a version as text or
/// parsed, `Some("1.2.0")`, or a [`VersionSelector`].
///
/// | you have | pass |
/// |---|---|
/// | nothing: the latest schema version | `None` |
/// | text | `"1.2.0"`, `Some("1.2.0")`, `&string`, `string.as_str()`, `Some(string.as_str())`, `string` |
/// | a record's version | `&record.version` (no re-parse), `record.version` |
/// | an `Option<String>` | `option.as_deref()` |
/// | an `Option<ContractVersion>` | `VersionSelector::from(option)` (`None`: the latest) |
///
/// `Option<&str>` is the only `Option` accepted, so that a bare `None` needs no type
/// annotation; hence `Some(&string)` and `Some(&version)` do not compile: drop the `Some`
/// (`&string`, `&version`). Every form of the table, compiled:
///
/// ```
/// use pycharter_core::prelude::*;
/// use pycharter_core::{Result, VersionSelector};
///
/// async fn every_form(
///     store: &dyn MetadataStore,
///     record: ArtifactRecord,
///     string: String,
///     option: Option<String>,
///     parsed: Option<ContractVersion>,
/// ) -> Result<()> {
///     store.get_schema("orders", None).await?;
///     store.get_schema("orders", "1.2.0").await?;
///     store.get_schema("orders", Some("1.2.0")).await?;
///     store.get_schema("orders", &string).await?;
///     store.get_schema("orders", string.as_str()).await?;
///     store.get_schema("orders", Some(string.as_str())).await?;
///     store.get_ownership("orders", &record.version).await?;
///     store.get_schema("orders", option.as_deref()).await?;
///     store.get_schema("orders", VersionSelector::from(parsed)).await?;
///     store.get_schema("orders", record.version).await?;
///     store.get_schema("orders", string).await?;
///     Ok(())
/// }
/// ```
///
/// The conversions themselves:
///
/// ```
/// use pycharter_core::{ContractVersion, IntoSelector, VersionSelector};
/// let v: ContractVersion = "1.2.0".parse()?;
/// assert_eq!(None.into_selector()?, VersionSelector::Latest);
/// assert_eq!(Some("1.2.0").into_selector()?, VersionSelector::Exact(v.clone()));
/// assert_eq!("1.2.0".into_selector()?, VersionSelector::Exact(v.clone()));
/// assert_eq!((&v).into_selector()?, VersionSelector::Exact(v));
/// # Ok::<(), pycharter_core::Error>(())
/// ```
pub trait IntoSelector {
    /// The selector, or [`Error::InvalidVersion`](crate::Error::InvalidVersion).
    fn into_selector(self) -> Result<VersionSelector>;
}

impl IntoSelector for Option<&str> {
    fn into_selector(self) -> Result<VersionSelector> {
        self.map_or(Ok(VersionSelector::Latest), |v| v.into_selector())
    }
}

impl IntoSelector for VersionSelector {
    fn into_selector(self) -> Result<VersionSelector> {
        Ok(self)
    }
}

impl IntoSelector for &VersionSelector {
    fn into_selector(self) -> Result<VersionSelector> {
        Ok(self.clone())
    }
}

macro_rules! exact_selector {
    ($($ty:ty),*) => {$(
        impl IntoSelector for $ty {
            fn into_selector(self) -> Result<VersionSelector> {
                self.into_version().map(VersionSelector::Exact)
            }
        }
    )*};
}
exact_selector!(
    &str,
    &&str,
    &String,
    String,
    &ContractVersion,
    ContractVersion
);

/// Declares a `store_*` / `get_*` pair of [`MetadataStoreExt`] for one artifact kind.
macro_rules! typed_kind {
    ($kind:expr, $what:literal, $store:ident, $get:ident) => {
        #[doc = concat!("Stores ", $what, " for schema `name` at `version` (text or [`ContractVersion`]); returns its id.")]
        #[doc = ""]
        #[doc = concat!("`async fn ", stringify!($store), "(&self, name: &str, version: impl IntoVersion, document: &Value) -> Result<ArtifactId>`")]
        fn $store(
            &self,
            name: &str,
            version: impl IntoVersion,
            document: &Value,
        ) -> impl Future<Output = Result<ArtifactId>> + Send {
            let version = version.into_version();
            async move { self.store_artifact($kind, name, &version?, document).await }
        }

        #[doc = concat!("The ", $what, " of schema `name` at `version` (`None`: the latest schema version).")]
        #[doc = ""]
        #[doc = concat!("`async fn ", stringify!($get), "(&self, name: &str, version: impl IntoSelector) -> Result<Option<ArtifactRecord>>`")]
        fn $get(
            &self,
            name: &str,
            version: impl IntoSelector,
        ) -> impl Future<Output = Result<Option<ArtifactRecord>>> + Send {
            let selector = version.into_selector();
            async move { self.get_artifact($kind, name, &selector?).await }
        }
    };
}

/// The typed methods of every [`MetadataStore`] (including `dyn MetadataStore` and mocks):
/// `use pycharter_core::prelude::*` brings them into scope.
///
/// ```
/// # #[cfg(not(feature = "mock"))] fn main() {}
/// # #[cfg(feature = "mock")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pycharter_core::Result<()> {
/// use pycharter_core::prelude::*;
/// use pycharter_core::MockMetadataStore; // feature "mock"
/// use serde_json::json;
///
/// let mut store = MockMetadataStore::new();
/// store.expect_store_artifact().returning(|kind, _, version, _| {
///     assert_eq!(kind, ArtifactKind::Ownership);
///     assert_eq!(version.to_string(), "1.2.0");
///     Ok(ArtifactId(7))
/// });
/// assert_eq!(store.store_ownership("orders", "1.2.0", &json!({"owner": "a"})).await?, ArtifactId(7));
/// # Ok(())
/// # }
/// ```
pub trait MetadataStoreExt: MetadataStore {
    typed_kind!(
        ArtifactKind::Schema,
        "a JSON Schema",
        store_schema,
        get_schema
    );
    typed_kind!(
        ArtifactKind::CoercionRules,
        "coercion rules",
        store_coercion_rules,
        get_coercion_rules
    );
    typed_kind!(
        ArtifactKind::ValidationRules,
        "validation rules",
        store_validation_rules,
        get_validation_rules
    );
    typed_kind!(
        ArtifactKind::Metadata,
        "metadata",
        store_metadata,
        get_metadata
    );
    typed_kind!(
        ArtifactKind::Ownership,
        "ownership",
        store_ownership,
        get_ownership
    );
    typed_kind!(
        ArtifactKind::GovernanceRules,
        "governance rules",
        store_governance_rules,
        get_governance_rules
    );

    /// Deletes schema `name` at `version` and everything attached to it.
    ///
    /// `async fn delete_schema(&self, name: &str, version: impl IntoVersion) -> Result<()>`
    fn delete_schema(
        &self,
        name: &str,
        version: impl IntoVersion,
    ) -> impl Future<Output = Result<()>> + Send {
        let version = version.into_version();
        async move { self.delete_version(name, &version?).await }
    }
}

impl<S: MetadataStore + ?Sized> MetadataStoreExt for S {}
