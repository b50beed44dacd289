-- pycharter 1.1.0 (SQLite): "latest version of a schema" becomes one index lookup
-- (WHERE name = ? ORDER BY version_sort_key DESC LIMIT 1), with no sort step.

CREATE INDEX IF NOT EXISTS idx_schemas_name_sort_key ON schemas (name, version_sort_key);
