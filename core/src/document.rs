//! Input checks shared by every backend: names and documents are validated here, before any
//! backend sees them, so hostile input gets the same typed error everywhere.

use crate::artifact::ArtifactKind;
use crate::error::{Error, Result};
use crate::version::truncate_for_display;
use jsonschema::error::ValidationErrorKind;
use jsonschema::ValidationError;
use serde_json::Value;

/// Longest schema name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Largest document accepted, in bytes of compact JSON.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;
/// Deepest nesting of arrays/objects accepted in a document.
pub const MAX_DOCUMENT_DEPTH: usize = 64;

/// Checks a schema name: 1..=255 bytes, no control characters (NUL included), no leading or
/// trailing whitespace. Quotes, `;`, `%`, `_` and non-ASCII are fine: every backend binds
/// names as parameters and matches them exactly.
///
/// ```
/// use pycharter_core::document::validate_name;
/// assert!(validate_name("orders; DROP TABLE schemas; --'%_é").is_ok());
/// assert!(validate_name("bad\0name").is_err());
/// ```
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidName {
        name: truncate_for_display(name),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("longer than 255 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("contains a control character (NUL, newline, …)"));
    }
    if name.trim() != name {
        return Err(invalid("has leading or trailing whitespace"));
    }
    Ok(())
}

/// Checks a document for `kind`: size and depth limits for every kind; a schema must also be
/// a valid JSON Schema (object or boolean, accepted by the JSON Schema meta-schema); other
/// kinds must be JSON objects.
///
/// ```
/// use pycharter_core::{document::validate_document, ArtifactKind};
/// use serde_json::json;
/// assert!(validate_document(ArtifactKind::Schema, &json!({"type": "object"})).is_ok());
/// assert!(validate_document(ArtifactKind::Schema, &json!({"type": "nonsense"})).is_err());
/// assert!(validate_document(ArtifactKind::Ownership, &json!(["not", "an", "object"])).is_err());
/// ```
pub fn validate_document(kind: ArtifactKind, document: &Value) -> Result<()> {
    let invalid = |reason: String| Error::InvalidDocument { reason };
    let depth = depth_of(document);
    if depth > MAX_DOCUMENT_DEPTH {
        return Err(invalid(format!(
            "nested {depth} levels deep, the limit is {MAX_DOCUMENT_DEPTH}"
        )));
    }
    let size = serde_json::to_vec(document)
        .map_err(|e| invalid(e.to_string()))?
        .len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(invalid(format!(
            "{size} bytes, the limit is {MAX_DOCUMENT_BYTES}"
        )));
    }
    if contains_nul(document) {
        return Err(invalid("contains a NUL character (\\u0000)".into()));
    }
    match kind {
        ArtifactKind::Schema => validate_json_schema(document),
        _ if document.is_object() => Ok(()),
        _ => Err(invalid(format!("{kind} must be a JSON object"))),
    }
}

/// Whether two documents are the same document for the immutability rule.
///
/// Numbers compare by value, not by representation: a database may hand `1e19` back as the
/// integer `10000000000000000000` (Postgres `jsonb` does), and storing the same document
/// again must still be a no-op rather than a `VersionConflict`.
///
/// ```
/// use pycharter_core::document::documents_equal;
/// use serde_json::json;
/// assert!(documents_equal(&json!({"n": 1e19}), &json!({"n": 10000000000000000000u64})));
/// assert!(!documents_equal(&json!({"n": 1}), &json!({"n": 2})));
/// ```
pub fn documents_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || matches!((x.as_f64(), y.as_f64()), (Some(p), Some(q)) if p == q)
        }
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| documents_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| documents_equal(x, y)))
        }
        _ => a == b,
    }
}

fn validate_json_schema(document: &Value) -> Result<()> {
    if !(document.is_object() || document.is_boolean()) {
        return Err(Error::InvalidDocument {
            reason: "a JSON Schema must be an object or a boolean".into(),
        });
    }
    jsonschema::meta::validate(document).map_err(|e| Error::InvalidDocument {
        reason: format!(
            "not a valid JSON Schema at {}: {}",
            keyword_pointer(&e),
            describe_meta_error(&e)
        ),
    })
}

/// Longest explanation of a meta-schema violation kept in a message: the offending value is
/// part of it, and a document can be 16 MiB.
const MAX_EXPLANATION_CHARS: usize = 400;

/// The JSON Pointer (RFC 6901) of the offending keyword in the document: the meta-schema
/// judged the document, so the error's *instance* path is a path into the document.
fn keyword_pointer(err: &ValidationError<'_>) -> String {
    match err.instance_path().as_str() {
        "" => "\"\" (the document itself)".to_string(),
        pointer => pointer.to_string(),
    }
}

/// What was wrong, and what would have been accepted. jsonschema words a failed `anyOf` /
/// `oneOf` as "not valid under any of the schemas"; the first error of each branch says
/// what that branch expected. An `enum` lists every option (jsonschema shows two).
fn describe_meta_error(err: &ValidationError<'_>) -> String {
    let text = match err.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let expected: Vec<String> = context
                .iter()
                .filter_map(|branch| branch.first())
                .map(describe_meta_error)
                .collect();
            if expected.is_empty() {
                err.to_string()
            } else {
                expected.join(", and ")
            }
        }
        ValidationErrorKind::Enum { options } => {
            format!("{} is not one of {options}", err.instance())
        }
        _ => err.to_string(),
    };
    if text.chars().count() <= MAX_EXPLANATION_CHARS {
        text
    } else {
        let head: String = text.chars().take(MAX_EXPLANATION_CHARS).collect();
        format!("{head}…")
    }
}

fn depth_of(value: &Value) -> usize {
    // Iterative on purpose: a recursive walk is what a hostile document would overflow.
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Postgres `jsonb`/`text` cannot hold `\u0000`; rejecting it here keeps backends equal.
fn contains_nul(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rejects_too_deep_documents() {
        let mut doc = json!({});
        for _ in 0..(MAX_DOCUMENT_DEPTH + 1) {
            doc = json!({ "a": doc });
        }
        let err = validate_document(ArtifactKind::Metadata, &doc).unwrap_err();
        assert!(err.to_string().contains("levels deep"), "{err}");
    }

    #[test]
    fn rejects_nul_inside_documents() {
        let err = validate_document(ArtifactKind::Metadata, &json!({"k": "a\u{0}b"})).unwrap_err();
        assert!(matches!(err, Error::InvalidDocument { .. }));
    }

    #[test]
    fn an_invalid_schema_names_the_json_pointer_of_the_offending_keyword() {
        let doc = json!({"properties": {"a": {"type": "strin"}}});
        let err = validate_document(ArtifactKind::Schema, &doc).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Invalid document: not a valid JSON Schema at /properties/a/type: \"strin\" is not \
             one of [\"array\",\"boolean\",\"integer\",\"null\",\"number\",\"object\",\"string\"], \
             and \"strin\" is not of type \"array\" — fix the document and store it again"
        );
        let err = validate_document(ArtifactKind::Schema, &json!({"minLength": -1})).unwrap_err();
        assert!(
            err.to_string().contains("at /minLength: -1 is less than"),
            "{err}"
        );
    }

    #[test]
    fn accepts_boolean_schema_and_rejects_array_schema() {
        assert!(validate_document(ArtifactKind::Schema, &json!(true)).is_ok());
        assert!(validate_document(ArtifactKind::Schema, &json!([1])).is_err());
    }

    #[test]
    fn name_rules() {
        for bad in ["", " lead", "trail ", "new\nline", &"x".repeat(256)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "orders",
            "o'rders",
            "a;b",
            "100%",
            "a_b",
            "名前",
            &"x".repeat(255),
        ] {
            assert!(validate_name(good).is_ok(), "{good:?}");
        }
    }
}
