-- Rotation nudges are recorded before they are sent (docs/decisions/023-…): the row is written
-- with state 'sending' and the consumers it lists, then completed with Slack's `ts` once Slack
-- answers. A sweep killed in between leaves the row behind, so a click on that message still
-- finds it (the message's buttons carry the row's id) and the nudge is still counted.

ALTER TABLE rotation_nudges
    -- sending: claimed and being posted; sent: Slack answered with its ts; unconfirmed: the
    -- sweep that sent it died before Slack's answer was recorded (counted as delivered: it may
    -- well have been, and a click on it turns it into 'sent')
    ADD COLUMN state text NOT NULL DEFAULT 'sent'
        CHECK (state IN ('sending', 'sent', 'unconfirmed')),
    -- when the send began (the claim's stamp on its consumers)
    ADD COLUMN started_at timestamptz,
    ALTER COLUMN slack_ts DROP NOT NULL,
    ALTER COLUMN sent_at DROP NOT NULL,
    ADD CONSTRAINT rotation_nudges_sent_has_ts
        CHECK (state <> 'sent' OR (slack_ts IS NOT NULL AND sent_at IS NOT NULL));

UPDATE rotation_nudges SET started_at = sent_at WHERE started_at IS NULL;
ALTER TABLE rotation_nudges ALTER COLUMN started_at SET NOT NULL;

-- Sends still in flight: counted wherever nudges are counted, and settled by the next sweep.
CREATE INDEX rotation_nudges_unsettled ON rotation_nudges (started_at) WHERE state = 'sending';
