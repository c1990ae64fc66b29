ALTER TABLE schema_db__tags RENAME COLUMN tag TO label;
