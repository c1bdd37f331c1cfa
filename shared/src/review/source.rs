//! What counts as a privileged grant: an Axiom dataset, an APL query that selects the grants,
//! and the field mapping. Presets cover common audit sources; every part can be overridden.

use std::fmt;
use std::str::FromStr;

use super::event::FieldMapping;

/// A ready-made source definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Events already in the normalised shape: `event_id`, `_time`, `grantor`, `grantee`,
    /// `role`, `target`, `source`, with `event_type == "privileged_grant"`.
    Generic,
    /// Okta system log: `group.user_membership.add` to a group whose name says admin, owner,
    /// or break-glass.
    OktaAdminGroup,
    /// AWS CloudTrail: an IAM `AdministratorAccess` policy attached to a user, role or group.
    CloudTrailAdminPolicy,
}

impl FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "generic" => Ok(Preset::Generic),
            "okta" | "okta-admin-group" => Ok(Preset::OktaAdminGroup),
            "cloudtrail" | "cloudtrail-admin-policy" => Ok(Preset::CloudTrailAdminPolicy),
            other => Err(format!(
                "unknown preset {other:?} (expected generic, okta or cloudtrail)"
            )),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Preset::Generic => "generic",
            Preset::OktaAdminGroup => "okta",
            Preset::CloudTrailAdminPolicy => "cloudtrail",
        })
    }
}

/// Where privileged grants are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSource {
    pub dataset: String,
    /// Everything after the dataset: `| where ...` clauses selecting privileged grants.
    pub filter: String,
    pub mapping: FieldMapping,
}

impl GrantSource {
    /// The APL query: the dataset, then the filter.
    pub fn apl(&self) -> String {
        format!(
            "['{}'] {}",
            self.dataset.replace('\'', ""),
            self.filter.trim()
        )
    }
}

fn mapping(fields: [&str; 7]) -> FieldMapping {
    let [event_id, time, grantor, grantee, role, target, source] = fields.map(str::to_owned);
    FieldMapping {
        event_id,
        time,
        grantor,
        grantee,
        role,
        target,
        source,
    }
}

impl Preset {
    pub fn default_dataset(self) -> &'static str {
        match self {
            Preset::Generic => "audit",
            Preset::OktaAdminGroup => "okta",
            Preset::CloudTrailAdminPolicy => "cloudtrail",
        }
    }

    /// The preset's source for `dataset`.
    pub fn source(self, dataset: &str) -> GrantSource {
        let (filter, mapping) = match self {
            Preset::Generic => (
                "| where event_type == \"privileged_grant\"",
                mapping([
                    "event_id", "_time", "grantor", "grantee", "role", "target", "source",
                ]),
            ),
            Preset::OktaAdminGroup => (
                "| where eventType == \"group.user_membership.add\" \
                 | extend grantee = tostring(target[0].alternateId), role = tostring(target[1].displayName) \
                 | where role matches regex \"(?i)admin|owner|break.?glass\"",
                mapping([
                    "uuid",
                    "_time",
                    "actor.alternateId",
                    "grantee",
                    "role",
                    "=Okta",
                    "=okta",
                ]),
            ),
            Preset::CloudTrailAdminPolicy => (
                "| where eventSource == \"iam.amazonaws.com\" \
                 and eventName in (\"AttachUserPolicy\", \"AttachRolePolicy\", \"AttachGroupPolicy\") \
                 and ['requestParameters.policyArn'] endswith \"AdministratorAccess\" \
                 | extend grantee = coalesce(['requestParameters.userName'], ['requestParameters.roleName'], ['requestParameters.groupName'])",
                mapping([
                    "eventID",
                    "_time",
                    "userIdentity.arn",
                    "grantee",
                    "requestParameters.policyArn",
                    "recipientAccountId",
                    "=cloudtrail",
                ]),
            ),
        };
        GrantSource {
            dataset: dataset.to_owned(),
            filter: filter.to_owned(),
            mapping,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_okta_preset_maps_its_documented_example_event() {
        // What the preset's `extend` leaves in a row for an Okta group.user_membership.add event.
        let row = json!({
            "uuid": "f2a1c9e0-5b1e-11ef-9f3a-0d1b2c3d4e5f",
            "_time": "2026-11-20T02:14:09.120Z",
            "eventType": "group.user_membership.add",
            "actor.alternateId": "alice@example.com",
            "grantee": "bob@example.com",
            "role": "Okta Super Admins",
        });
        let g = Preset::OktaAdminGroup
            .source("okta")
            .mapping
            .apply(row.as_object().unwrap())
            .unwrap();
        assert_eq!(
            (
                g.grantor.as_str(),
                g.grantee.as_str(),
                g.role.as_str(),
                g.source.as_str()
            ),
            (
                "alice@example.com",
                "bob@example.com",
                "Okta Super Admins",
                "okta"
            )
        );
    }

    #[test]
    fn the_apl_names_the_dataset_first() {
        let apl = Preset::Generic.source("sec-audit").apl();
        assert!(apl.starts_with("['sec-audit'] | where"), "{apl}");
    }
}
