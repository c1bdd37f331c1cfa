-- A follow-up the receiver keeps refusing (an outbound webhook answering 4xx) is given up:
-- status 'failed', with its last error, instead of being retried on every run for ever.
ALTER TABLE privileged_review_outbox
    DROP CONSTRAINT privileged_review_outbox_status_check,
    ADD CONSTRAINT privileged_review_outbox_status_check
        CHECK (status IN ('pending', 'done', 'failed'));
