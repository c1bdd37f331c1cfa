-- MR audit (issue 16, findings 4 and 13).
-- 'unmerged': GitLab kept answering that the MR is not merged (a forged or premature "merge"
-- delivery). Not re-driven by the sweep, and re-opened (back to 'pending', attempts reset) by
-- the next delivery of that MR, so the genuine merge is still audited. Only 'done' answers a
-- delivery with "audit": "done".
ALTER TABLE mr_audit_merges
    DROP CONSTRAINT mr_audit_merges_status_check,
    ADD CONSTRAINT mr_audit_merges_status_check
        CHECK (status IN ('pending', 'done', 'failed', 'unmerged'));

-- Security labels an MR was seen carrying before it merged (from update deliveries, current or
-- previous labels), so a merge after the label was removed is still audited.
CREATE TABLE mr_audit_label_history (
    project_id    bigint NOT NULL,
    iid           bigint NOT NULL,
    label         text NOT NULL,
    first_seen_at timestamptz NOT NULL,
    PRIMARY KEY (project_id, iid, label)
);
