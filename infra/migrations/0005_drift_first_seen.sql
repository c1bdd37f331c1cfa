-- Drift issues show when a grant first appeared, not only when its change was detected: a
-- filing of elevated grants records the earliest `first_seen` of their baseline rows at the
-- moment the change is recorded (the baseline may move or lose the row before the filing is
-- filed). NULL for filings of new grants (first seen when detected) and for filings queued
-- before this migration.
ALTER TABLE oauth_grant_filings ADD COLUMN first_seen timestamptz;
