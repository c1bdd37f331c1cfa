-- Security MR audit trail: each merged security MR once, the deliveries that announced it
-- (GitLab retries and resends), and each step of its audit, so a retry resumes where it failed.

CREATE TABLE mr_audit_merges (
    -- "{project_id}:{iid}": an MR merges once
    merge_key     text PRIMARY KEY,
    project_id    bigint NOT NULL,
    iid           bigint NOT NULL,
    -- group/project!iid, as GitLab names it
    reference     text NOT NULL,
    -- the delivery's facts (event.rs MergeEvent)
    event         jsonb NOT NULL,
    -- GitLab's answer once fetched (facts.rs MergeFacts): the evidence
    facts         jsonb,
    -- separation-of-duties findings; [] = the review stands
    findings      jsonb,
    -- failed: given up after repeated failures (see last_error); a person looks at it
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    -- a worker owns the audit until then; a crashed worker's audit comes back after it
    claimed_until timestamptz,
    received_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    completed_at  timestamptz
);

CREATE INDEX mr_audit_merges_pending ON mr_audit_merges (received_at) WHERE status = 'pending';

-- One row per delivery: Idempotency-Key (GitLab 17.4+), else X-Gitlab-Event-UUID, else the merge.
CREATE TABLE mr_audit_deliveries (
    delivery_key text PRIMARY KEY,
    merge_key    text NOT NULL REFERENCES mr_audit_merges (merge_key),
    received_at  timestamptz NOT NULL
);

-- Steps done: gitlab, linear:SEC-123 (one per linked issue), confluence, slack.
CREATE TABLE mr_audit_steps (
    merge_key text NOT NULL REFERENCES mr_audit_merges (merge_key),
    step      text NOT NULL,
    done_at   timestamptz NOT NULL,
    detail    jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (merge_key, step)
);
