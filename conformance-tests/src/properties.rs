//! Property tests on every backend. The cases are async and hit real databases, so instead
//! of the `proptest!` macro, `for_all` draws inputs from proptest strategies with a fixed
//! ChaCha seed (every run, CI included, generates the same cases) and runs each through the
//! store: one database per property, unique names per generated case. A failing input is
//! shrunk and printed.

use crate::support::{fresh, get_kind, schema_doc, store_kind};
use crate::BackendHarness;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use pycharter_core::document::documents_equal;
use pycharter_core::{ArtifactId, ArtifactKind, Error, MetadataStore, MetadataStoreExt};
use semver::Version;
use serde_json::{json, Number, Value};
use std::collections::BTreeMap;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::time::{Duration, Instant};

/// Generated cases per property.
const CASES: u32 = 64;
/// Bounds on shrinking a failing input: re-runs, and time (well under the case timeout).
const MAX_SHRINK_STEPS: u32 = 256;
const MAX_SHRINK_TIME: Duration = Duration::from_secs(30);

/// A check's result: `Err` says what differed.
type Check<T = ()> = Result<T, String>;

/// What a check compares of a record: version, id, document.
type Seen = (String, ArtifactId, Value);

/// For `map_err` on a store call: a failure naming the call and the error.
fn call(what: impl Display) -> impl FnOnce(Error) -> String {
    move |e| format!("{what}: unexpected error {e:?}")
}

/// A failure naming `what` unless `got == want`.
fn same<T: PartialEq + Debug>(what: impl Display, got: T, want: T) -> Check {
    let differ = || format!("{what} is {got:?}, expected {want:?}");
    (got == want).then_some(()).ok_or_else(differ)
}

/// `get_<kind>(name, version)`, as a check.
async fn read<S>(store: &S, kind: ArtifactKind, name: &str, v: Option<&str>) -> Check<Option<Seen>>
where
    S: MetadataStore,
{
    let record = get_kind(store, kind, name, v).await;
    let record = record.map_err(call(format!("get {kind} of {name:?} at {v:?}")))?;
    Ok(record.map(|r| (r.version.to_string(), r.id, Value::clone(&r.document))))
}

/// `list_versions(name)` as strings, as a check.
async fn versions_of(store: &impl MetadataStore, name: &str) -> Check<Vec<String>> {
    let versions = store.list_versions(name).await;
    let versions = versions.map_err(call("list_versions"))?;
    Ok(versions.iter().map(ToString::to_string).collect())
}

/// Runs `check(run, input)` (`run`: unique per call) on inputs drawn from `strategy`; returns
/// the outputs, or shrinks a failing input (bounded) and panics with it.
async fn for_all<S, T, F, Fut>(property: &str, strategy: S, mut check: F) -> Vec<T>
where
    S: Strategy,
    F: FnMut(usize, S::Value) -> Fut,
    Fut: Future<Output = Check<T>>,
{
    let mut config = Config::with_cases(CASES);
    config.failure_persistence = None;
    let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let (mut outputs, mut run) = (Vec::new(), 0);
    for case in 1..=CASES {
        let mut tree = strategy.new_tree(&mut runner).expect("generate an input");
        run += 1;
        let result = check(run, tree.current()).await;
        let Err(mut error) = result.map(|output| outputs.push(output)) else {
            continue;
        };
        let generated = format!("{:?}", tree.current());
        let (mut smallest, mut steps, started) = (generated.clone(), 0, Instant::now());
        let mut more = tree.simplify();
        while more && steps < MAX_SHRINK_STEPS && started.elapsed() < MAX_SHRINK_TIME {
            (steps, run) = (steps + 1, run + 1);
            match check(run, tree.current()).await {
                Err(e) => {
                    (smallest, error) = (format!("{:?}", tree.current()), e);
                    more = tree.simplify();
                }
                Ok(_) => more = tree.complicate(),
            }
        }
        panic!(
            "property {property} failed on generated case {case} of {CASES} (fixed seed: \
             rerunning the test generates the same cases)\nfailure: {error}\n\
             smallest failing input ({steps} shrink steps): {smallest}\n\
             generated input: {generated}"
        );
    }
    outputs
}

// ---- 1. "latest" is the semver maximum ------------------------------------------------

/// A version: few cores, numbers across the 9/10 boundary (string order is not numeric
/// order), often pre-release identifiers mixing numbers, letters, upper case and hyphens.
fn version() -> impl Strategy<Value = String> {
    let words = vec!["alpha", "beta", "rc", "RC", "Beta", "x-1", "alpha9"];
    let identifier = prop_oneof![
        (0u64..=12).prop_map(|n| n.to_string()),
        prop::sample::select(words).prop_map(String::from),
    ];
    let pre = prop::option::weighted(0.6, prop::collection::vec(identifier, 1..=3));
    let numbers = |n: &[u64]| prop::sample::select(n.to_vec());
    let core = (numbers(&[1, 2, 10]), numbers(&[9, 10]), numbers(&[0, 11]));
    (core, pre).prop_map(|((major, minor, patch), pre)| match pre {
        None => format!("{major}.{minor}.{patch}"),
        Some(pre) => format!("{major}.{minor}.{patch}-{}", pre.join(".")),
    })
}

/// Versions stored in random order under one name: after each store, `get_schema(name,
/// None)` is the semver maximum so far (its id and document); at the end `list_versions` is
/// the set sorted by semver.
pub async fn latest_is_the_semver_maximum<H: BackendHarness>(h: &H) {
    let store = &fresh(h).await;
    let shuffled = prop::collection::btree_set(version(), 1..=14)
        .prop_map(|set| set.into_iter().collect::<Vec<_>>())
        .prop_shuffle();
    for_all("latest_is_the_semver_maximum", shuffled, |run, versions| {
        check_latest(store, run, versions)
    })
    .await;
}

async fn check_latest(store: &impl MetadataStore, run: usize, versions: Vec<String>) -> Check {
    let name = format!("latest-{run}");
    let mut stored = BTreeMap::new();
    for version in &versions {
        let doc = schema_doc(version);
        let id = store.store_schema(&name, version, &doc).await;
        let id = id.map_err(call(format!("store_schema({version:?})")))?;
        stored.insert(version.parse::<Version>().expect("a version"), id);
        let (max, &id) = stored.last_key_value().expect("one at least");
        let want = Some((max.to_string(), id, schema_doc(&max.to_string())));
        let got = read(store, ArtifactKind::Schema, &name, None).await?;
        same(format_args!("latest after storing {version}"), got, want)?;
    }
    let sorted: Vec<String> = stored.keys().map(ToString::to_string).collect();
    same("list_versions", versions_of(store, &name).await?, sorted)
}

// ---- 2. documents round-trip ----------------------------------------------------------

/// A JSON object at most 6 levels deep (itself included): strings (no NUL), integers over all
/// of i64 and u64, floats with short decimal forms (a `numeric` column may print them in
/// another form, they read back as the same value), booleans, null, arrays, objects.
fn document() -> impl Strategy<Value = Value> {
    let text = || "[a-z]{0,8}|[^\\x00]{0,10}|[\"'\\\\/%_; \\n\\té名😀\u{2028}]{0,8}";
    let float = (-99_999i64..=99_999, -12i32..=12).prop_map(|(mantissa, exponent)| {
        let x: f64 = format!("{mantissa}e{exponent}").parse().expect("a float");
        Value::Number(Number::from_f64(x).expect("finite"))
    });
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-3i64..=3).prop_map(Value::from),
        float,
        text().prop_map(Value::String),
    ];
    let object = |entries| Value::Object(BTreeMap::into_iter(entries).collect());
    let value = leaf.prop_recursive(4, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..5).prop_map(object),
        ]
    });
    prop::collection::btree_map(text(), value, 0..7).prop_map(object)
}

/// Random documents (generated as JSON text, so a failure prints JSON) attached to a schema
/// version read back equal, by exact version and as latest; storing them again, as sent or as
/// read back, returns the same id.
pub async fn documents_round_trip<H: BackendHarness>(h: &H) {
    let store = &fresh(h).await;
    let kind = prop::sample::select(ArtifactKind::ATTACHED.to_vec());
    let inputs = (kind, document().prop_map(|doc| doc.to_string()));
    for_all("documents_round_trip", inputs, |run, (kind, json)| {
        round_trip(store, run, kind, serde_json::from_str(&json).expect("JSON"))
    })
    .await;
}

async fn round_trip(
    store: &impl MetadataStore,
    run: usize,
    kind: ArtifactKind,
    doc: Value,
) -> Check {
    let name = format!("documents-{run}");
    let schema = store.store_schema(&name, "1.0.0", &schema_doc(&name)).await;
    schema.map_err(call("store_schema"))?;
    let id = store_kind(store, kind, &name, "1.0.0", &doc).await;
    let id = id.map_err(call(format!("store {kind}")))?;
    for version in [Some("1.0.0"), None] {
        let what = format!("{kind} at {version:?}");
        let record = read(store, kind, &name, version).await?;
        let (_, got, back) = record.ok_or(format!("{what}: nothing read back"))?;
        same(format_args!("id of {what}"), got, id)?;
        if !documents_equal(&back, &doc) {
            return Err(format!("{what} read back as {back}"));
        }
        for (form, doc) in [("as read back", &back), ("as sent", &doc)] {
            let again = store_kind(store, kind, &name, "1.0.0", doc).await;
            let again = again.map_err(call(format!("store {what} again {form}")))?;
            same(format_args!("id of {what} stored again {form}"), again, id)?;
        }
    }
    Ok(())
}

// ---- 3. store / attach / delete agree with a model ------------------------------------

/// Names whose byte order is not case-insensitive; versions whose order is not string order.
const NAMES: [&str; 2] = ["orders", "Orders"];
const VERSIONS: [&str; 4] = ["1.0.0-rc.1", "1.0.0", "1.9.0", "1.10.0"];

/// What an operation does: store a schema or attach metadata to one, or delete a schema.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Store(ArtifactKind),
    Delete,
}

/// One operation: action, name, version, and which of two documents.
type Op = (Action, &'static str, &'static str, u8);

/// What an operation returned.
#[derive(Debug, PartialEq)]
enum Outcome {
    Id(ArtifactId),
    Deleted,
    Conflict,
    NotFound,
    Other(String),
}

/// The documents of the model: schema or metadata number `d`.
fn doc_of(kind: ArtifactKind, d: u8) -> Value {
    match kind {
        ArtifactKind::Schema => schema_doc(&format!("model {d}")),
        _ => json!({ "model": d }),
    }
}

async fn perform(store: &impl MetadataStore, model: &Model, op: Op) -> Outcome {
    let (action, name, version, doc) = op;
    let name = model.full(name);
    let result = match action {
        Action::Store(kind) => {
            let doc = doc_of(kind, doc);
            store_kind(store, kind, &name, version, &doc)
                .await
                .map(Some)
        }
        Action::Delete => store.delete_schema(&name, version).await.map(|()| None),
    };
    match result {
        Ok(Some(id)) => Outcome::Id(id),
        Ok(None) => Outcome::Deleted,
        Err(Error::VersionConflict { .. }) => Outcome::Conflict,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(e) => Outcome::Other(format!("{e:?}")),
    }
}

type Table = BTreeMap<(&'static str, Version), (u8, ArtifactId)>;

/// Generated case `run`: per `(name, version)`, document and id of the schema, of its metadata.
#[derive(Default)]
struct Model {
    run: usize,
    schemas: Table,
    metadata: Table,
}

impl Model {
    /// The name pool name `name` has in this case.
    fn full(&self, name: &str) -> String {
        format!("model-{}-{name}", self.run)
    }

    /// Checks what `op` returned and records its effect.
    fn step(&mut self, (action, name, version, doc): Op, got: Outcome) -> Check {
        let key = (name, version.parse::<Version>().expect("a version"));
        let exists = self.schemas.contains_key(&key);
        let table = match action {
            Action::Store(ArtifactKind::Schema) => &mut self.schemas,
            Action::Store(_) if exists => &mut self.metadata,
            Action::Delete if exists => {
                self.schemas.remove(&key);
                self.metadata.remove(&key);
                return same("the result", got, Outcome::Deleted);
            }
            _ => return same("the result", got, Outcome::NotFound),
        };
        let want = match table.get(&key) {
            Some(&(stored, id)) if stored == doc => Outcome::Id(id),
            Some(_) => Outcome::Conflict,
            None => match got {
                Outcome::Id(id) if table.values().all(|&(_, live)| live != id) => {
                    table.insert(key, (doc, id));
                    return Ok(());
                }
                _ => return Err(format!("the result is {got:?}, expected an unused id")),
            },
        };
        same("the result", got, want)
    }

    /// What a read of `kind` (schema or metadata) of `name` at `version` (None: latest) gives.
    fn read(&self, kind: ArtifactKind, name: &str, version: Option<&str>) -> Option<Seen> {
        let table = [&self.metadata, &self.schemas][usize::from(kind == ArtifactKind::Schema)];
        let mut versions = self.schemas.keys().filter(|(n, _)| *n == name);
        let key = match version {
            Some(v) => versions.find(|(_, k)| k.to_string() == v),
            None => versions.next_back(),
        }?;
        let &(d, id) = table.get(key)?;
        Some((key.1.to_string(), id, doc_of(kind, d)))
    }

    /// `list_versions(name)`, and reads of its schema and metadata `at` versions, agree.
    async fn verify(&self, store: &impl MetadataStore, name: &str, at: &[Option<&str>]) -> Check {
        let keys = self.schemas.keys().filter(|(n, _)| *n == name);
        let want: Vec<String> = keys.map(|(_, v)| v.to_string()).collect();
        let got = versions_of(store, &self.full(name)).await?;
        same("list_versions", got, want)?;
        for &version in at {
            for kind in [ArtifactKind::Schema, ArtifactKind::Metadata] {
                let got = read(store, kind, &self.full(name), version).await?;
                let want = self.read(kind, name, version);
                same(format_args!("{kind} of {name} at {version:?}"), got, want)?;
            }
        }
        Ok(())
    }
}

/// Random interleavings of store / attach-metadata / delete agree with a model: each result
/// (id, conflict, not found), the versions and latest reads after each operation, every
/// exact read and `list_schemas` at the end.
pub async fn store_and_delete_agree_with_a_model<H: BackendHarness>(h: &H) {
    use ArtifactKind::{Metadata, Schema};
    let store = &fresh(h).await;
    let (schema, metadata) = (Action::Store(Schema), Action::Store(Metadata));
    let action = prop::sample::select(vec![schema, schema, metadata, Action::Delete]);
    let name = prop::sample::select(NAMES.to_vec());
    let version = prop::sample::select(VERSIONS.to_vec());
    let ops = prop::collection::vec((action, name, version, 0u8..2), 1..=20);
    let survivors = for_all("store_and_delete_agree_with_a_model", ops, |run, ops| {
        check_model(store, run, ops)
    })
    .await;
    let mut expected: Vec<String> = survivors.into_iter().flatten().collect();
    expected.sort();
    let listed = store.list_schemas().await.expect("list_schemas");
    assert_eq!(listed, expected, "list_schemas after every generated case");
}

async fn check_model(store: &impl MetadataStore, run: usize, ops: Vec<Op>) -> Check<Vec<String>> {
    let mut model = Model {
        run,
        ..Model::default()
    };
    for (step, &op) in ops.iter().enumerate() {
        let got = perform(store, &model, op).await;
        let at = |e| format!("step {step} {op:?}: {e}");
        model.step(op, got).map_err(at)?;
        model.verify(store, op.1, &[None]).await.map_err(at)?;
    }
    let mut survivors = Vec::new();
    for name in NAMES {
        let verified = model.verify(store, name, &VERSIONS.map(Some)).await;
        verified.map_err(|e| format!("at the end: {e}"))?;
        if model.read(ArtifactKind::Schema, name, None).is_some() {
            survivors.push(model.full(name));
        }
    }
    survivors.sort();
    let mut listed = store.list_schemas().await.map_err(call("list_schemas"))?;
    listed.retain(|n| n.starts_with(&model.full("")));
    same("list_schemas (of this case)", &listed, &survivors)?;
    Ok(survivors)
}
