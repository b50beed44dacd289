//! The workload, defined once and run on every backend ([`run`]): storing and reading
//! schemas and the five attached kinds, listing versions, and the schema-manager operations
//! an application or a deploy step pays for (`connect()` with validation, `initialize` on an
//! empty database, a no-op `upgrade`).
//!
//! Benchmark ids are `<backend>/<operation>`; every operation reports its throughput in
//! operations per second (criterion's `elem/s`).

use crate::backends::Backend;
use crate::mode::Timing;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use pycharter_conformance::{get_kind, store_kind};
use pycharter_core::{
    ArtifactKind, InitializeOptions, MetadataStore, MetadataStoreExt, SchemaManager, UpgradeOptions,
};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// Name of the schema the read benches look up.
pub const READ_NAME: &str = "orders";
/// Versions stored under [`READ_NAME`].
pub const READ_VERSIONS: u64 = 100;
/// Other names, each with [`OTHER_VERSIONS`] versions, so lookups do not see a lone name.
pub const OTHER_NAMES: u64 = 9;
/// Versions of each other name.
pub const OTHER_VERSIONS: u64 = 10;

/// The version string of the `n`-th version of a seeded name: `major.minor.0` with ten
/// minors per major, so semver order differs from string order (`10.0.0 > 9.9.0`).
pub fn seeded_version(n: u64) -> String {
    format!("{}.{}.0", n / 10, n % 10)
}

/// The latest version of [`READ_NAME`] after [`seed`].
pub fn latest_read_version() -> String {
    seeded_version(READ_VERSIONS - 1)
}

/// The version the exact-lookup benches read (one in the middle of [`READ_NAME`]'s).
pub fn exact_read_version() -> String {
    seeded_version(READ_VERSIONS / 2)
}

/// The `n`-th fresh version of the store benches: distinct for every `n`.
pub fn fresh_version(n: u64) -> String {
    format!("{}.{}.{}", n / 1_000_000, (n / 1_000) % 1_000, n % 1_000)
}

/// A representative JSON Schema (about 770 bytes compact, some 50 JSON values): an object
/// with typed, constrained properties, a nested object and an array. `n` varies one value so
/// documents differ.
pub fn schema_document(n: u64) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Order",
        "description": format!("An order placed by a customer (revision {n})"),
        "type": "object",
        "required": ["id", "customer", "lines", "placed_at"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "pattern": "^ord_[0-9a-z]{12}$"},
            "customer": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1},
                    "email": {"type": "string", "format": "email"}
                }
            },
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["sku", "quantity"],
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1},
                        "unit_price": {"type": "number", "exclusiveMinimum": 0}
                    }
                }
            },
            "placed_at": {"type": "string", "format": "date-time"},
            "status": {"enum": ["pending", "paid", "shipped", "cancelled"]}
        }
    })
}

/// A representative document of an attached kind (a JSON object of a few hundred bytes).
pub fn attached_document(kind: ArtifactKind) -> Value {
    match kind {
        ArtifactKind::CoercionRules => json!({
            "customer.id": "int", "lines[].quantity": "int", "lines[].unit_price": "decimal",
            "placed_at": "datetime_utc", "status": "lowercase"
        }),
        ArtifactKind::ValidationRules => json!({
            "rules": [
                {"field": "lines", "check": "non_empty"},
                {"field": "lines[].unit_price", "check": "max", "value": 100000},
                {"field": "placed_at", "check": "not_in_future"}
            ]
        }),
        ArtifactKind::Metadata => json!({
            "domain": "sales", "pii": ["customer.email"], "tags": ["orders", "core"],
            "description": "Orders as emitted by the checkout service"
        }),
        ArtifactKind::Ownership => json!({
            "owner": "team-orders", "stewards": ["alice@example.com", "bob@example.com"],
            "on_call": "orders-oncall@example.com"
        }),
        ArtifactKind::GovernanceRules => json!({
            "classification": "confidential", "retention_days": 2555,
            "allowed_regions": ["eu-west-1", "eu-central-1"], "requires_approval": true
        }),
        ArtifactKind::Schema => schema_document(0),
    }
}

/// Seeds what the read benches read: [`READ_NAME`] with [`READ_VERSIONS`] versions (the
/// latest with every attached kind), and [`OTHER_NAMES`] other names.
///
/// # Panics
///
/// When the store refuses a write (the bench cannot run on it).
pub async fn seed<S: MetadataStore + ?Sized>(store: &S) {
    for n in 0..READ_VERSIONS {
        store
            .store_schema(READ_NAME, &seeded_version(n), &schema_document(n))
            .await
            .expect("seed the read benches' schema");
    }
    for other in 0..OTHER_NAMES {
        for n in 0..OTHER_VERSIONS {
            store
                .store_schema(
                    &format!("other_{other}"),
                    &seeded_version(n),
                    &schema_document(n),
                )
                .await
                .expect("seed the other names");
        }
    }
    for version in [latest_read_version(), exact_read_version()] {
        for kind in ArtifactKind::ATTACHED {
            store_kind(store, kind, READ_NAME, &version, &attached_document(kind))
                .await
                .expect("seed the attached kinds");
        }
    }
}

/// Runs the whole workload on `backend`: group `<backend>` (store and read operations,
/// [`Timing::FAST`]) and group `<backend>/lifecycle` (connect, initialize, upgrade,
/// [`Timing::SLOW`]).
///
/// Meant for a current-thread runtime: criterion drives each iteration with `block_on`, so
/// on a multi-thread runtime every I/O wake-up would hop between threads and add to each
/// round trip; and the in-memory figures are then one core's.
pub fn run<B: Backend>(c: &mut Criterion, rt: &Runtime, backend: &B) {
    let store = rt.block_on(async {
        let store = backend.initialized().await;
        seed(&store).await;
        store
    });

    let mut group = c.benchmark_group(backend.name());
    Timing::FAST.apply(&mut group);
    group.throughput(Throughput::Elements(1));
    bench_store_schema(&mut group, rt, &store);
    bench_reads(&mut group, rt, &store);
    bench_attached(&mut group, rt, &store);
    group.finish();

    let mut group = c.benchmark_group(format!("{}/lifecycle", backend.name()));
    Timing::SLOW.apply(&mut group);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(1));
    bench_lifecycle(&mut group, rt, backend);
    group.finish();

    rt.block_on(backend.close(store));
}

fn bench_store_schema<M, S>(group: &mut BenchmarkGroup<'_, M>, rt: &Runtime, store: &S)
where
    M: criterion::measurement::Measurement<Value = Duration>,
    S: MetadataStore + Clone + 'static,
{
    let document = schema_document(1);
    let mut next = 0u64;
    group.bench_function("store_schema", |b| {
        b.to_async(rt).iter(|| {
            let version = fresh_version(next);
            next += 1;
            let (store, document) = (store.clone(), &document);
            async move {
                black_box(
                    store
                        .store_schema("bench_store", &version, document)
                        .await
                        .expect("store_schema"),
                )
            }
        })
    });
}

fn bench_reads<M, S>(group: &mut BenchmarkGroup<'_, M>, rt: &Runtime, store: &S)
where
    M: criterion::measurement::Measurement<Value = Duration>,
    S: MetadataStore + Clone + 'static,
{
    let exact = exact_read_version();
    group.bench_function("get_schema/exact", |b| {
        b.to_async(rt).iter(|| async {
            let found = store.get_schema(READ_NAME, &exact).await;
            black_box(found.expect("get_schema").expect("seeded version"))
        })
    });
    let latest = latest_read_version();
    group.bench_function("get_schema/latest", |b| {
        b.to_async(rt).iter(|| async {
            let found = store.get_schema(READ_NAME, None).await;
            let record = found.expect("get_schema").expect("seeded schema");
            debug_assert_eq!(record.version.to_string(), latest);
            black_box(record)
        })
    });
    group.bench_function(format!("list_versions/{READ_VERSIONS}"), |b| {
        b.to_async(rt).iter(|| async {
            let versions = store.list_versions(READ_NAME).await.expect("list_versions");
            debug_assert_eq!(versions.len() as u64, READ_VERSIONS);
            black_box(versions)
        })
    });
}

fn bench_attached<M, S>(group: &mut BenchmarkGroup<'_, M>, rt: &Runtime, store: &S)
where
    M: criterion::measurement::Measurement<Value = Duration>,
    S: MetadataStore + Clone + 'static,
{
    for kind in ArtifactKind::ATTACHED {
        let table = kind.table();
        let document = attached_document(kind);
        let name = format!("attach_{table}");
        let mut next = 0u64;
        // Each stored document needs its own schema version: created before the clock starts.
        group.bench_function(format!("store/{table}"), |b| {
            b.to_async(rt).iter_custom(|iters| {
                let first = next;
                next += iters;
                let (store, document, name) = (store.clone(), document.clone(), name.clone());
                async move {
                    let versions: Vec<String> = (first..first + iters).map(fresh_version).collect();
                    for version in &versions {
                        // A tiny schema: cheap untimed setup.
                        store
                            .store_schema(&name, version, &json!({"type": "object"}))
                            .await
                            .expect("store the schema version to attach to");
                    }
                    let started = Instant::now();
                    for version in &versions {
                        black_box(
                            store_kind(&store, kind, &name, version, &document)
                                .await
                                .expect("store an attached document"),
                        );
                    }
                    started.elapsed()
                }
            })
        });
        group.bench_function(format!("get_latest/{table}"), |b| {
            b.to_async(rt).iter(|| async {
                let found = get_kind(store, kind, READ_NAME, None).await;
                black_box(found.expect("get attached").expect("seeded document"))
            })
        });
    }
}

fn bench_lifecycle<M, B>(group: &mut BenchmarkGroup<'_, M>, rt: &Runtime, backend: &B)
where
    M: criterion::measurement::Measurement<Value = Duration>,
    B: Backend,
{
    group.bench_function("connect_validate", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let store = backend.connect().await;
                timed += started.elapsed();
                backend.close(black_box(store)).await;
            }
            timed
        })
    });
    group.bench_function("initialize_empty", |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let store = backend.empty().await;
                let started = Instant::now();
                let report = store
                    .initialize(InitializeOptions::default())
                    .await
                    .expect("initialize an empty database");
                timed += started.elapsed();
                debug_assert!(!report.steps.is_empty());
                backend.close(store).await;
            }
            timed
        })
    });
    // A store of its own: `upgrade` resets the schema gate of the store it runs on.
    let store = rt.block_on(backend.initialized());
    group.bench_function("upgrade_noop", |b| {
        b.to_async(rt).iter(|| async {
            let report = store
                .upgrade(UpgradeOptions::default())
                .await
                .expect("no-op upgrade");
            debug_assert!(report.steps.is_empty());
            black_box(report)
        })
    });
    rt.block_on(backend.close(store));
}
