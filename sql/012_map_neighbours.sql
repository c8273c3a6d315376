-- Each map point's nearest songs in the model's hidden space (track ids, nearest
-- first): the map's "why". Maps drawn before this column have none.
ALTER TABLE map_points ADD COLUMN IF NOT EXISTS neighbours text[] NOT NULL DEFAULT '{}';
