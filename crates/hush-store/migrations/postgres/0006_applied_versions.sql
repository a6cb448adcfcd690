-- What a running copy of an environment applied, part by part: the environment's own version
-- and the version of each included shared document, as JSON
-- ({"version": 3, "shared": [{"name": "common-db", "version": 7}]}). Empty for runners from
-- before it was reported (they report only the revision, `applied_version`).
ALTER TABLE instances ADD COLUMN applied TEXT;
