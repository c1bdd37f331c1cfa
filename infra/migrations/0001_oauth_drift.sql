-- OAuth grant drift audit: today's inventory (the contract any sync job fills), the baseline
-- (yesterday's accepted state), the run log, the change log and the filing outbox.
--
-- Key columns use COLLATE "C" so Postgres orders them byte-wise, exactly as the Rust diff
-- merges them; key CHECKs keep keys canonical so that order never depends on normalisation.

CREATE TABLE oauth_grant_inventory (
    provider      text COLLATE "C" NOT NULL
                  CHECK (provider IN ('google', 'microsoft', 'github', 'slack', 'okta', 'other')),
    client_id     text COLLATE "C" NOT NULL
                  CHECK (client_id <> '' AND client_id !~ '^\s|\s$'),
    -- a user (email, lower case, or the provider's user id), or '*' for an org-wide grant
    principal     text COLLATE "C" NOT NULL
                  CHECK (principal <> '' AND principal !~ '^\s|\s$'
                         AND (position('@' IN principal) = 0 OR principal !~ '[A-Z]')),
    app_name      text NOT NULL DEFAULT '',
    -- as the provider reports them; normalised (trimmed, split, deduplicated, ordered) on read
    scopes        text[] NOT NULL DEFAULT '{}',
    -- 'user' (one user consented for themselves) or 'admin' (admin / org-wide consent);
    -- validated on read so a bad value stops the run with the row named
    consent_type  text NOT NULL DEFAULT 'user',
    publisher     text,
    verified      boolean,
    last_seen     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, client_id, principal)
);

COMMENT ON TABLE oauth_grant_inventory IS
    'Today''s active third-party OAuth grants. Sync jobs replace its content (in one transaction) before the daily drift audit runs.';

CREATE TABLE oauth_grant_baseline (
    provider      text COLLATE "C" NOT NULL,
    client_id     text COLLATE "C" NOT NULL,
    principal     text COLLATE "C" NOT NULL,
    app_name      text NOT NULL,
    scopes        text[] NOT NULL,          -- normalised
    consent_type  text NOT NULL CHECK (consent_type IN ('user', 'admin')),
    publisher     text,
    verified      boolean,
    first_seen    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (provider, client_id, principal)
);

CREATE TABLE oauth_drift_runs (
    run_id        uuid PRIMARY KEY,
    started_at    timestamptz NOT NULL,
    recorded_at   timestamptz,
    finished_at   timestamptz,
    bootstrap     boolean NOT NULL DEFAULT false,
    report        jsonb
);

-- The outbox: one row per Linear issue to file. filing_id is sent to Linear as the issue id,
-- so a retry after a crash finds the issue instead of creating a second one.
CREATE TABLE oauth_grant_filings (
    filing_id        uuid PRIMARY KEY,
    run_id           uuid NOT NULL REFERENCES oauth_drift_runs (run_id),
    detected_at      timestamptz NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'filed')),
    draft            jsonb,
    prompt_hash      text,
    attempts         integer NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz,
    last_error       text,
    issue_identifier text,
    issue_url        text,
    filed_at         timestamptz
);

CREATE INDEX oauth_grant_filings_pending ON oauth_grant_filings (detected_at) WHERE status = 'pending';

-- The paper trail: every change the audit saw, filed or not.
CREATE TABLE oauth_grant_changes (
    change_id     bigserial PRIMARY KEY,
    run_id        uuid NOT NULL REFERENCES oauth_drift_runs (run_id),
    detected_at   timestamptz NOT NULL,
    provider      text COLLATE "C" NOT NULL,
    client_id     text COLLATE "C" NOT NULL,
    principal     text COLLATE "C" NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('new', 'elevated', 'reduced', 'revoked', 'metadata')),
    severity      text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    group_signature text,                   -- set for new/elevated: what noise control groups on
    before        jsonb,                    -- the grant's state in the baseline (null when new)
    after         jsonb,                    -- the grant's state today (null when revoked)
    filing_id     uuid REFERENCES oauth_grant_filings (filing_id)
);

CREATE INDEX oauth_grant_changes_run ON oauth_grant_changes (run_id);
CREATE INDEX oauth_grant_changes_filing ON oauth_grant_changes (filing_id) WHERE filing_id IS NOT NULL;
CREATE INDEX oauth_grant_changes_key ON oauth_grant_changes (provider, client_id, principal);
