-- Reverts 1.1.0.
DROP INDEX IF EXISTS idx_schemas_name_sort_key;
