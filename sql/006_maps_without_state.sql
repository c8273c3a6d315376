-- maps.state was never written nor read: a map is its points and its params.
ALTER TABLE maps DROP COLUMN IF EXISTS state;
