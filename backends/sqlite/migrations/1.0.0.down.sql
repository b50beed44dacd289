-- Reverts 1.0.0 (SQLite). Attached tables go first so no foreign key points at a dropped
-- table; dropping a table also drops its indexes, the explicit DROP INDEX only documents them.

DROP INDEX IF EXISTS idx_governance_rules_schema_id;
DROP TABLE IF EXISTS governance_rules;
DROP INDEX IF EXISTS idx_ownership_schema_id;
DROP TABLE IF EXISTS ownership;
DROP INDEX IF EXISTS idx_metadata_schema_id;
DROP TABLE IF EXISTS metadata;
DROP INDEX IF EXISTS idx_validation_rules_schema_id;
DROP TABLE IF EXISTS validation_rules;
DROP INDEX IF EXISTS idx_coercion_rules_schema_id;
DROP TABLE IF EXISTS coercion_rules;
DROP INDEX IF EXISTS idx_schemas_version;
DROP INDEX IF EXISTS idx_schemas_name;
DROP INDEX IF EXISTS idx_schemas_name_version;
DROP TABLE IF EXISTS schemas;
