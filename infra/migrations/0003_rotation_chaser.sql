-- Stale-consumer rotation chaser: campaigns (a key being retired), the consumers still to move
-- off it, the nudges posted to their teams and the digests sent to the security lead.

CREATE TABLE rotation_campaigns (
    campaign         text PRIMARY KEY CHECK (campaign <> ''),
    -- the key being retired and the one replacing it, as people name them (never the secret)
    retired_key      text NOT NULL CHECK (retired_key <> ''),
    replacement_key  text NOT NULL CHECK (replacement_key <> ''),
    -- the campaign's deadline; a consumer may carry its own
    deadline         date NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE rotation_consumers (
    -- carried by the Slack buttons to find the consumer again
    consumer_id      bigserial PRIMARY KEY,
    campaign         text NOT NULL REFERENCES rotation_campaigns (campaign),
    name             text NOT NULL CHECK (name <> ''),
    team             text NOT NULL CHECK (team <> ''),
    -- the team's Slack channel id; without one the team is reported undeliverable
    channel          text CHECK (channel ~ '^[CG][A-Z0-9]{6,}$'),
    -- the team lead's Slack user id, mentioned from the urgent bucket on
    team_lead        text CHECK (team_lead ~ '^[UW][A-Z0-9]{6,}$'),
    -- the consumer's own deadline; NULL follows the campaign's (so moving it moves them all)
    deadline         date,
    status           text NOT NULL CHECK (status IN ('pending', 'confirmed', 'exempt')),
    exempt_reason    text,
    -- an exemption with an end date lapses the day after it: chasing resumes
    exempt_until     date,
    confirmed_by     text,
    confirmed_at     timestamptz,
    -- a snooze pauses chasing until this date (chasing resumes on it)
    snoozed_until    date,
    snooze_reason    text,
    snoozed_by       text,
    nudge_count      integer NOT NULL DEFAULT 0 CHECK (nudge_count >= 0),
    last_nudged_at   timestamptz,
    -- set just before a nudge is sent and cleared when it is recorded (or fails): a sweep that
    -- dies in between leaves it set, so a retry does not nudge the consumer a second time
    nudge_started_at timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CHECK (status <> 'exempt' OR exempt_reason IS NOT NULL),
    CHECK (status <> 'confirmed' OR confirmed_at IS NOT NULL)
);

CREATE UNIQUE INDEX rotation_consumers_name ON rotation_consumers (campaign, lower(name));
CREATE INDEX rotation_consumers_chaseable ON rotation_consumers (campaign) WHERE status <> 'confirmed';

-- Every nudge delivered: the message's place in Slack and what it listed, so a click can
-- redraw it, and the evidence of who was told what and when.
CREATE TABLE rotation_nudges (
    nudge_id     bigserial PRIMARY KEY,
    team         text NOT NULL,
    channel      text NOT NULL,
    slack_ts     text NOT NULL,
    bucket       text NOT NULL CHECK (bucket IN ('gentle', 'firm', 'urgent', 'critical')),
    -- the rendered lines (consumer ids, names, days overdue, nudges so far) and mentions
    message      jsonb NOT NULL,
    consumer_ids bigint[] NOT NULL,
    sent_at      timestamptz NOT NULL,
    UNIQUE (channel, slack_ts)
);

-- One digest per local working day: claimed before sending, so a rerun does not send a second.
CREATE TABLE rotation_digests (
    digest_date  date PRIMARY KEY,
    claimed_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    channel      text,
    slack_ts     text,
    summary      jsonb
);
