-- The champion is the one model_versions row with status 'champion' (the
-- unique index of 001 allows at most one). The alias table was written beside
-- it and never read: a second record of the same fact that could disagree.
DROP TABLE IF EXISTS model_aliases;
