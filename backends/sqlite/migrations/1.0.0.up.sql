-- pycharter 1.0.0 (SQLite): the metadata tables and their indexes.
-- Every statement is IF NOT EXISTS: `pycharter db init --force` re-runs this file to
-- recreate what is missing, and must leave everything that exists untouched.
-- version_sort_key uses SQLite's default BINARY collation (bytewise), which is the order
-- ContractVersion::sort_key() is built for.

CREATE TABLE IF NOT EXISTS schemas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    version_sort_key TEXT NOT NULL,
    document TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_schemas_name_version ON schemas (name, version);
CREATE INDEX IF NOT EXISTS idx_schemas_name ON schemas (name);
CREATE INDEX IF NOT EXISTS idx_schemas_version ON schemas (version);

CREATE TABLE IF NOT EXISTS coercion_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_id INTEGER NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_coercion_rules_schema_id ON coercion_rules (schema_id);

CREATE TABLE IF NOT EXISTS validation_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_id INTEGER NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_validation_rules_schema_id ON validation_rules (schema_id);

CREATE TABLE IF NOT EXISTS metadata (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_id INTEGER NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_metadata_schema_id ON metadata (schema_id);

CREATE TABLE IF NOT EXISTS ownership (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_id INTEGER NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_ownership_schema_id ON ownership (schema_id);

CREATE TABLE IF NOT EXISTS governance_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_id INTEGER NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document TEXT NOT NULL CHECK (json_valid(document)),
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_governance_rules_schema_id ON governance_rules (schema_id);
