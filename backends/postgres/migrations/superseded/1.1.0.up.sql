-- pycharter 1.1.0: "latest version of <name>" becomes a backward scan of this index
-- (WHERE name = $1 ORDER BY version_sort_key DESC LIMIT 1) instead of a sort of every version.
CREATE INDEX IF NOT EXISTS idx_schemas_name_sort_key ON schemas (name, version_sort_key);
