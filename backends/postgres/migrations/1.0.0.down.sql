-- Reverts 1.0.0. Dropping a table drops its indexes, so the tables are all there is to drop.
-- Attached tables first: they reference schemas.
DROP TABLE IF EXISTS governance_rules;
DROP TABLE IF EXISTS ownership;
DROP TABLE IF EXISTS metadata;
DROP TABLE IF EXISTS validation_rules;
DROP TABLE IF EXISTS coercion_rules;
DROP TABLE IF EXISTS schemas;
