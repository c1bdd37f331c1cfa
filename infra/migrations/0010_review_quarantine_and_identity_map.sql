-- Privileged-grant review: events that match the filter but cannot be read, and a team's map
-- of who is who across Slack, the identity provider and the cloud.

-- An event the review could not read (no event id, an id that is not text, no time): kept out
-- of the batch so the others are still reviewed, reported once to the review channel (it is
-- itself suspicious), and counted. Keyed by a hash of its raw JSON, so the late window's
-- re-reads neither add it again nor report it again.
CREATE TABLE privileged_review_quarantine (
    raw_hash      text PRIMARY KEY,
    source        text NOT NULL,
    -- the normalised field that could not be read, and why (no event text is kept here)
    field         text NOT NULL,
    problem       text NOT NULL,
    -- the event's JSON as read (cut to 64 KiB), for the operator; text, not jsonb, so that
    -- whatever the event holds (a NUL escape included) can be kept. Never shown in Slack.
    raw           text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    times_seen    integer NOT NULL DEFAULT 1,
    reported_at   timestamptz
);

CREATE INDEX privileged_review_quarantine_unreported
    ON privileged_review_quarantine (first_seen_at) WHERE reported_at IS NULL;

-- Who is who: each row says that the identities it names (at least two of a Slack user id, an
-- identity-provider login, a cloud principal) are one person. Rows sharing an identity are the
-- same person too. Imported with `secops-local review import-identities`, or written by any
-- sync job (the table is a contract: see README "Identity map").
CREATE TABLE review_identity_map (
    slack_user_id   text,
    idp_login       text,
    cloud_principal text,
    note            text,
    CHECK (num_nonnulls(slack_user_id, idp_login, cloud_principal) >= 2)
);

-- A re-import of the same row changes nothing.
CREATE UNIQUE INDEX review_identity_map_row ON review_identity_map (
    lower(coalesce(slack_user_id, '')), lower(coalesce(idp_login, '')), lower(coalesce(cloud_principal, ''))
);
-- Looked up case-insensitively, as principals are compared.
CREATE INDEX review_identity_map_slack ON review_identity_map (lower(slack_user_id));
CREATE INDEX review_identity_map_idp ON review_identity_map (lower(idp_login));
CREATE INDEX review_identity_map_cloud ON review_identity_map (lower(cloud_principal));
