-- Reverts 1.2.0 (SQLite): the version table loses its compatible_with column.

ALTER TABLE pycharter_schema_version DROP COLUMN compatible_with;
