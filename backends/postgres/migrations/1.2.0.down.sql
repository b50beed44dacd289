-- Reverts 1.2.0.
ALTER TABLE pycharter_schema_version DROP COLUMN IF EXISTS compatible_with;
