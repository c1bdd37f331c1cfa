//! The GitLab webhook endpoint's logic: check `X-Gitlab-Token` in constant time before reading
//! anything, keep only merges of security-labelled MRs, record each merge once (deliveries are
//! deduplicated), hand the audit to the worker, and answer well inside GitLab's 10 seconds.
//!
//! A merge is also recorded from an `update` of an MR already merged whose labels now match: a
//! `security::*` label added after the merge makes it a security merge, audited like one that
//! had the label when it merged. The merge is keyed by the MR, so whichever delivery comes
//! first records it and every later one (re-deliveries, further label changes) is a duplicate:
//! one audit per MR. See docs/decisions/026-labels-added-after-the-merge.md.
//!
//! A merge is also audited when its security label was removed before it merged: every
//! delivery's matching labels (current, and `changes.labels.previous`) are remembered per MR,
//! and a merge of an MR that ever carried one is recorded like a labelled one.
//!
//! A merge whose audit ended without evidence (GitLab kept saying the MR was not merged, as it
//! does for a forged "merge" delivery, or the audit was given up) is re-opened by its next
//! delivery, and only an audit that wrote its evidence answers `"audit": "done"`. See
//! docs/decisions/029-merges-pending-until-gitlab-says-merged.md.
//!
//! Statuses: 401 for a missing or wrong token and 400 for a body that is not a merge request
//! event (both misconfiguration, worth GitLab disabling the hook); 200 "ignored" for other
//! events and actions; 202 for a merge accepted, 200 "duplicate" for one already known.

use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::event::{EventError, LabelPattern, MERGE_REQUEST_HOOK, parse_merge_event};
use super::projects::{self, ProjectAllowlist};
use super::store::{AuditStore, Recorded};
use crate::connectors::eventbridge::{BusEvent, EventPublisher};
use crate::secrets::{Credentials, REJECTION_REFRESH_MIN_AGE, SecretStore};
use crate::text;

/// The bus event that wakes the audit worker.
pub const AUDIT_SOURCE: &str = "secops.mr-audit";
pub const MERGE_RECORDED: &str = "MergeRecorded";

/// The parts of a delivery the endpoint reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct HookRequest<'a> {
    pub token: Option<&'a str>,
    pub event: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub event_uuid: Option<&'a str>,
    pub body: &'a [u8],
}

/// The HTTP answer (a small JSON body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookReply {
    pub status: u16,
    pub body: String,
    /// What the delivery came to (the summary line and the metrics say it).
    pub handled: Delivery,
}

/// What one delivery came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A new security merge recorded and handed to the worker.
    Accepted,
    /// A merge already known (a redelivery).
    Duplicate,
    /// Not a merge of a security-labelled MR.
    Ignored,
    /// Missing or wrong token, or not a merge request event.
    Refused,
    /// Ours to answer and we could not (5xx).
    Failed,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Accepted => "accepted",
            Delivery::Duplicate => "duplicate",
            Delivery::Ignored => "ignored",
            Delivery::Refused => "refused",
            Delivery::Failed => "failed",
        }
    }
}

impl HookReply {
    fn new(status: u16, body: serde_json::Value, handled: Delivery) -> Self {
        Self {
            status,
            body: body.to_string(),
            handled,
        }
    }

    /// A merge request event ignored: one log line with what it was about and why.
    fn ignored_event(event: &super::event::MergeEvent, reason: &str) -> Self {
        tracing::info!(
            mr = %text::excerpt(&event.reference()),
            action = %text::excerpt(&event.action),
            state = %text::excerpt(&event.state),
            labels = %text::one_line(&event.labels.join(", "), 300),
            reason = %text::one_line(reason, 300),
            "ignored a delivery"
        );
        Self::ignored_reply(reason)
    }

    fn ignored(reason: &str) -> Self {
        tracing::info!(reason = %text::one_line(reason, 300), "ignored a delivery");
        Self::ignored_reply(reason)
    }

    fn ignored_reply(reason: &str) -> Self {
        Self::new(
            200,
            json!({"status": "ignored", "reason": reason}),
            Delivery::Ignored,
        )
    }

    /// The answer when the endpoint itself fails.
    pub fn internal_error() -> Self {
        Self::new(500, json!({"error": "internal error"}), Delivery::Failed)
    }
}

/// The delivery's EMF line (workflow `mr-audit`). Every metric is present (0 or 1), so sums
/// over any period are right.
pub fn emf(namespace: &str, handled: Delivery) -> serde_json::Value {
    use crate::telemetry::{Metric, emf_line};
    let is = |d: Delivery| u64::from(handled == d);
    emf_line(
        namespace,
        "mr-audit",
        &[
            Metric::count("DeliveriesAccepted", is(Delivery::Accepted)),
            Metric::count("DeliveriesDuplicate", is(Delivery::Duplicate)),
            Metric::count("DeliveriesIgnored", is(Delivery::Ignored)),
            Metric::count("DeliveriesRefused", is(Delivery::Refused)),
            Metric::count("DeliveryFailures", is(Delivery::Failed)),
        ],
        &[],
    )
}

/// What the endpoint needs.
pub struct HookDeps<'a, P> {
    pub secrets: &'a SecretStore,
    pub store: AuditStore<'a>,
    pub bus: &'a P,
    pub labels: &'a LabelPattern,
    /// `MR_AUDIT_GITLAB_PROJECTS`; `None`: every project.
    pub projects: Option<&'a ProjectAllowlist>,
}

/// Equal, in time that does not depend on where the inputs differ (or on their lengths: both
/// sides are hashed first).
fn same_secret(given: &str, expected: &str) -> bool {
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The key a delivery is deduplicated on: `Idempotency-Key` (the same on GitLab's retries and
/// resends), else `X-Gitlab-Event-UUID`, else the merge itself.
pub fn delivery_key(req: &HookRequest<'_>, merge_key: &str) -> String {
    fn clean(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty() && v.len() <= 200)
    }
    match (clean(req.idempotency_key), clean(req.event_uuid)) {
        (Some(key), _) => format!("idempotency:{key}"),
        (None, Some(uuid)) => format!("event:{uuid}"),
        (None, None) => format!("merge:{merge_key}"),
    }
}

/// Whether `token` is the current or the previous webhook token. Every configured token is
/// compared, so the time taken does not say which one matched; an empty configured token (say
/// `"gitlab_webhook_token_previous": ""` outside a rotation) never lets anything in.
fn token_accepted(token: &str, credentials: &Credentials) -> bool {
    [
        credentials.gitlab_webhook_token.as_ref(),
        credentials.gitlab_webhook_token_previous.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(secrecy::ExposeSecret::expose_secret)
    .filter(|expected| !expected.trim().is_empty())
    .fold(false, |found, expected| {
        same_secret(token, expected) | found
    })
}

/// Handle one delivery.
#[tracing::instrument(skip_all)]
pub async fn handle_hook<P: EventPublisher>(
    deps: &HookDeps<'_, P>,
    req: &HookRequest<'_>,
    now: DateTime<Utc>,
) -> HookReply {
    let credentials = match deps.secrets.current().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the webhook tokens");
            return HookReply::internal_error();
        }
    };
    let Some(token) = req.token.filter(|t| !t.is_empty()) else {
        tracing::warn!("refused a GitLab delivery without X-Gitlab-Token");
        return HookReply::new(
            401,
            json!({"error": "missing X-Gitlab-Token"}),
            Delivery::Refused,
        );
    };
    if !token_accepted(token, &credentials) {
        // The token may just have been rotated in the secret: re-read it (at most once per
        // REJECTION_REFRESH_MIN_AGE) before refusing.
        let rotated = match deps
            .secrets
            .refresh_after_rejection(REJECTION_REFRESH_MIN_AGE)
            .await
        {
            Ok(fresh) => fresh.is_some_and(|fresh| token_accepted(token, &fresh)),
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read the webhook tokens");
                false
            }
        };
        if !rotated {
            tracing::warn!("refused a GitLab delivery with a wrong X-Gitlab-Token");
            return HookReply::new(
                401,
                json!({"error": "invalid X-Gitlab-Token"}),
                Delivery::Refused,
            );
        }
    }
    let event_type = req.event.unwrap_or_default();
    if event_type != MERGE_REQUEST_HOOK {
        return HookReply::ignored(&format!(
            "X-Gitlab-Event {event_type:?} is not handled; configure the hook for merge request events only"
        ));
    }
    let event = match parse_merge_event(req.body) {
        Ok(e) => e,
        Err(e @ (EventError::NotJson(_) | EventError::WrongKind(_) | EventError::Missing(_))) => {
            tracing::warn!(error = %e, "refused a malformed merge request delivery");
            return HookReply::new(400, json!({"error": e.to_string()}), Delivery::Refused);
        }
    };
    // The delivery's path is the sender's word; the worker checks again with GitLab's.
    if !projects::accepted(deps.projects, event.project_id, &event.project_path) {
        return HookReply::ignored_event(&event, "the project is not in MR_AUDIT_GITLAB_PROJECTS");
    }
    // Security labels seen on any delivery (current, or removed by this one) are remembered:
    // removing the label before merging must not avoid the audit.
    let matching = |labels: &[String]| -> Vec<String> {
        labels
            .iter()
            .filter(|l| deps.labels.matches(l))
            .cloned()
            .collect()
    };
    let mut seen = matching(&event.labels);
    seen.extend(matching(event.labels_before.as_deref().unwrap_or_default()));
    if !seen.is_empty()
        && let Err(e) = deps
            .store
            .remember_labels(event.project_id, event.iid, &seen, now)
            .await
    {
        tracing::error!(error = %e, "could not remember the MR's security labels");
        return HookReply::internal_error();
    }
    // GitLab's `changes` is not reliable enough to ask whether the label was just added (it is
    // sometimes empty, sometimes lists labels that did not change): any edit of a merged MR whose
    // labels match is a candidate, and the merge key makes it one audit whatever arrives.
    let after_merge = event.is_update_of_merged();
    if !event.is_merge() && !after_merge {
        return HookReply::ignored_event(
            &event,
            &format!(
                "action {:?} (MR state {:?}) is not a merge",
                event.action, event.state
            ),
        );
    }
    if !event.labels.iter().any(|l| deps.labels.matches(l)) {
        let carried = match deps.store.labels_carried(event.project_id, event.iid).await {
            Ok(carried) => carried,
            Err(e) => {
                tracing::error!(error = %e, "could not read the MR's label history");
                return HookReply::internal_error();
            }
        };
        if carried.is_empty() {
            return HookReply::ignored_event(
                &event,
                &format!("no label matches {}", deps.labels.as_str()),
            );
        }
        tracing::warn!(
            mr = %text::excerpt(&event.reference()),
            carried = %text::one_line(&carried.join(", "), 300),
            "merged without the security label it carried earlier: recorded for audit"
        );
    }
    let merge_key = event.merge_key();
    let key = delivery_key(req, &merge_key);
    let recorded = match deps.store.record_delivery(&key, &event, now).await {
        Ok(r) => r,
        Err(e) => {
            // GitLab shows the failure and the delivery can be resent; nothing was recorded.
            tracing::error!(error = %e, "could not record the merge");
            return HookReply::internal_error();
        }
    };
    let reference = event.reference();
    if recorded == (Recorded::Known { done: true }) {
        return HookReply::new(
            200,
            json!({"status": "duplicate", "merge": reference, "audit": "done"}),
            Delivery::Duplicate,
        );
    }
    // Recorded and pending: wake the worker (again, for a duplicate of a pending audit). If the
    // bus is down the audit is not lost: the worker's schedule picks up pending audits.
    let wake = BusEvent {
        source: AUDIT_SOURCE.to_owned(),
        detail_type: MERGE_RECORDED.to_owned(),
        detail: json!({"merge_key": merge_key}),
    };
    if let Err(e) = deps.bus.publish(&[wake]).await {
        tracing::warn!(error = %e, "could not wake the audit worker; its schedule will pick the merge up");
    }
    if after_merge && recorded == Recorded::New {
        tracing::info!(
            merge = %reference,
            labels = %event.labels.join(", "),
            labels_before = %event.labels_before.as_deref().unwrap_or_default().join(", "),
            "a merged MR gained a matching label: recorded for audit"
        );
    }
    tracing::info!(merge = %reference, delivery = %key, new = (recorded == Recorded::New), "security merge recorded");
    if recorded == Recorded::Reopened {
        tracing::warn!(
            merge = %reference,
            "a merge whose audit had ended without evidence was delivered again: re-opened"
        );
    }
    match recorded {
        Recorded::New | Recorded::Reopened => HookReply::new(
            202,
            json!({"status": "accepted", "merge": reference}),
            Delivery::Accepted,
        ),
        Recorded::Known { .. } => HookReply::new(
            200,
            json!({"status": "duplicate", "merge": reference, "audit": "pending"}),
            Delivery::Duplicate,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret("s3cret", "s3cret"));
        assert!(!same_secret("s3cret", "s3cret "));
        assert!(!same_secret("", "s3cret"));
    }

    #[test]
    fn each_delivery_counts_once_under_mr_audit() {
        let line = emf("SecOps/Workflows", Delivery::Duplicate);
        assert_eq!(line["Workflow"], "mr-audit");
        assert_eq!(line["DeliveriesDuplicate"], 1.0);
        for other in [
            "DeliveriesAccepted",
            "DeliveriesIgnored",
            "DeliveriesRefused",
            "DeliveryFailures",
        ] {
            assert_eq!(line[other], 0.0, "{other}");
        }
    }

    #[test]
    fn the_delivery_key_prefers_the_idempotency_key() {
        let req = |i, u| HookRequest {
            idempotency_key: i,
            event_uuid: u,
            ..HookRequest::default()
        };
        assert_eq!(
            delivery_key(&req(Some("k1"), Some("u1")), "1:2"),
            "idempotency:k1"
        );
        assert_eq!(delivery_key(&req(None, Some("u1")), "1:2"), "event:u1");
        assert_eq!(delivery_key(&req(Some(" "), None), "1:2"), "merge:1:2");
    }
}
