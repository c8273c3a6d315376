-- The gate's numbers behind each verdict: what the version was measured against,
-- the paired bootstrap's F1 difference, its 95% interval and the probability that
-- the version is better. Versions judged before this column have none.
ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS evidence jsonb;
