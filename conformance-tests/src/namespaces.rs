//! Namespaces (capability `namespaces`): `ConnectOptions::namespace` selects an independent
//! schema inside one database, e.g. one per tenant.

use crate::support::{open_raw, raw, schema_doc};
use crate::BackendHarness;
use pycharter_core::{ConnectOptions, MetadataStore, MetadataStoreExt, SchemaManager, SchemaState};

/// Options that open `namespace` with `base`'s other settings.
fn in_namespace(namespace: &str, base: ConnectOptions) -> ConnectOptions {
    ConnectOptions {
        namespace: Some(namespace.to_string()),
        ..base
    }
}

/// Two namespaces of one database (one with quotes and spaces in its name) are independent
/// schemas: connecting to one initializes it alone, the default namespace stays
/// uninitialized, and what is stored in one is invisible in the other.
pub async fn namespaces_are_independent_schemas<H: BackendHarness>(h: &H) {
    let database = h.new_database().await;
    let (first, second) = ("Tenant \"A\" b", "tenant_b");
    let a = h
        .open(&database, in_namespace(first, ConnectOptions::default()))
        .await
        .expect("connect creates and initializes the namespace");
    a.store_schema("orders", "1.0.0", &schema_doc("a"))
        .await
        .expect("store in the first namespace");

    let default = open_raw(h, &database).await;
    assert_eq!(
        default.validate().await.expect("validate").state,
        SchemaState::Uninitialized,
        "the default namespace is a separate, untouched schema"
    );
    let untouched = h
        .open(&database, in_namespace(second, raw()))
        .await
        .expect("open the second namespace");
    assert_eq!(
        untouched.validate().await.expect("validate").state,
        SchemaState::Uninitialized
    );

    let b = h
        .open(&database, in_namespace(second, ConnectOptions::default()))
        .await
        .expect("initialize the second namespace");
    assert!(b.list_schemas().await.expect("list").is_empty());
    b.store_schema("orders", "1.0.0", &schema_doc("b"))
        .await
        .expect("the same key in another namespace is another record");

    let a_again = h
        .open(&database, in_namespace(first, ConnectOptions::default()))
        .await
        .expect("reconnect to the first namespace");
    let read = a_again
        .get_schema("orders", None)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(*read.document, schema_doc("a"));
    let read = b
        .get_schema("orders", None)
        .await
        .expect("get")
        .expect("stored");
    assert_eq!(*read.document, schema_doc("b"));
}
