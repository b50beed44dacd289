-- Reverts 1.1.0 (SQLite).

DROP INDEX IF EXISTS idx_schemas_name_sort_key;
