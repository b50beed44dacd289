-- Reverts 1.1.0, online: DROP INDEX CONCURRENTLY does not block the application's queries.
-- pycharter:online drops idx_schemas_name_sort_key
DROP INDEX CONCURRENTLY IF EXISTS idx_schemas_name_sort_key;
