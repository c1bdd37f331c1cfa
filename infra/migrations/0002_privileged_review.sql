-- Privileged-grant anomaly review: the read checkpoint, one review per audit event, and the
-- outbox of side effects (Slack cards, Axiom review events, card updates, webhooks).

-- How far the audit source has been read, per source (the APL query's dataset).
CREATE TABLE privileged_review_checkpoint (
    source      text PRIMARY KEY,
    -- every event with a time before this (minus the ingest-lag allowance) is recorded
    checkpoint  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE privileged_reviews (
    review_id     uuid PRIMARY KEY,
    -- the audit event's id: one review per event, however often it is read
    event_id      text NOT NULL UNIQUE,
    source        text NOT NULL,
    event_time    timestamptz NOT NULL,
    grantor       text NOT NULL,
    grantee       text NOT NULL,
    role          text NOT NULL,
    target        text NOT NULL,
    features      jsonb NOT NULL,
    level         text NOT NULL CHECK (level IN ('low', 'medium', 'high')),
    score         smallint NOT NULL CHECK (score BETWEEN 0 AND 100),
    reasons       jsonb NOT NULL,
    rule_floor    text NOT NULL CHECK (rule_floor IN ('low', 'medium', 'high')),
    model         text,
    model_problem text,
    prompt_hash   text NOT NULL,
    status        text NOT NULL CHECK (status IN ('auto_resolved', 'awaiting_review', 'escalated', 'approved', 'revoked')),
    slack_channel text,
    slack_ts      text,
    decided_by    text,
    decided_at    timestamptz,
    created_at    timestamptz NOT NULL
);

CREATE INDEX privileged_reviews_grantee ON privileged_reviews (grantee);

-- Side effects to perform, each once: a unique key per effect makes a retry or a replayed
-- click find the existing task instead of adding one.
CREATE TABLE privileged_review_outbox (
    task_id     bigserial PRIMARY KEY,
    review_id   uuid NOT NULL REFERENCES privileged_reviews (review_id),
    kind        text NOT NULL CHECK (kind IN ('slack_card', 'axiom_event', 'card_update', 'webhook', 'escalation_post')),
    dedupe_key  text NOT NULL UNIQUE,
    payload     jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    -- a drain that took the task owns it until then; a crashed drain's tasks come back after it
    claimed_until timestamptz,
    created_at  timestamptz NOT NULL,
    done_at     timestamptz
);

CREATE INDEX privileged_review_outbox_pending ON privileged_review_outbox (created_at) WHERE status = 'pending';
