-- pycharter 1.2.0 (SQLite): the version table records, for each migration applied from now
-- on, the oldest layout whose binaries keep working with it applied. A binary older than the
-- database then knows whether it may go on (every newer migration keeps it working) or must
-- refuse.
-- A new nullable column: binaries of 1.1.0 and earlier read and write the version table by
-- explicit column names, so they keep working (this migration is compatible with 1.1.0).
-- Rows of 1.0.0 and 1.1.0 stay NULL: core takes their compatibility from the bundled list.
-- SQLite has no ADD COLUMN IF NOT EXISTS: the executor provides it (src/add_column.rs), so
-- this file reruns like every other.

ALTER TABLE pycharter_schema_version ADD COLUMN IF NOT EXISTS compatible_with TEXT;
