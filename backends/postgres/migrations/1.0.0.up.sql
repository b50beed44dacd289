-- pycharter 1.0.0: the metadata tables and their indexes.
--
-- Every statement is IF NOT EXISTS: `pycharter db init --force` re-runs this file to recreate
-- what is missing, and must leave what exists untouched. Names are unqualified on purpose:
-- the connection's search_path selects the configured namespace (Postgres schema).

CREATE TABLE IF NOT EXISTS schemas (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT        NOT NULL,
    version          TEXT        NOT NULL,
    -- ContractVersion::sort_key(): bytewise order == semver precedence, hence COLLATE "C".
    version_sort_key TEXT COLLATE "C" NOT NULL,
    document         JSONB       NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- UNIQUE: (name, version) is immutable, and INSERT ... ON CONFLICT relies on it.
CREATE UNIQUE INDEX IF NOT EXISTS idx_schemas_name_version ON schemas (name, version);
CREATE INDEX IF NOT EXISTS idx_schemas_name ON schemas (name);
CREATE INDEX IF NOT EXISTS idx_schemas_version ON schemas (version);

-- The attached kinds: at most one document per schema version (UNIQUE schema_id), removed
-- with the schema version it belongs to (ON DELETE CASCADE).
CREATE TABLE IF NOT EXISTS coercion_rules (
    id         BIGSERIAL PRIMARY KEY,
    schema_id  BIGINT      NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_coercion_rules_schema_id ON coercion_rules (schema_id);

CREATE TABLE IF NOT EXISTS validation_rules (
    id         BIGSERIAL PRIMARY KEY,
    schema_id  BIGINT      NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_validation_rules_schema_id ON validation_rules (schema_id);

CREATE TABLE IF NOT EXISTS metadata (
    id         BIGSERIAL PRIMARY KEY,
    schema_id  BIGINT      NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_metadata_schema_id ON metadata (schema_id);

CREATE TABLE IF NOT EXISTS ownership (
    id         BIGSERIAL PRIMARY KEY,
    schema_id  BIGINT      NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_ownership_schema_id ON ownership (schema_id);

CREATE TABLE IF NOT EXISTS governance_rules (
    id         BIGSERIAL PRIMARY KEY,
    schema_id  BIGINT      NOT NULL REFERENCES schemas (id) ON DELETE CASCADE,
    document   JSONB       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_governance_rules_schema_id ON governance_rules (schema_id);
