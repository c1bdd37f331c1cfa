//! Who a principal is, as far as the review can tell from its text: the forms the presets
//! produce (an email, a plus-alias, a bare login, a cloud ARN) reduced to comparable keys, so
//! that "no one decides a grant they made or received" holds under any of their identities.
//! The comparison leans towards a match: a false match only sends the click back to another
//! reviewer, a missed one lets someone approve their own access.

/// The comparable keys of a principal: the whole value and its bare login, lower case. For
/// `arn:aws:iam::123:user/Eve.Mallet` that is the ARN and `eve.mallet`; for
/// `eve.mallet+admin@corp.example` it is the address without the alias and `eve.mallet`.
pub fn keys(principal: &str) -> Vec<String> {
    let lower = principal.trim().to_lowercase();
    if lower.is_empty() {
        return Vec::new();
    }
    // An ARN's last path segment names the user or role (`user/eve`, `assumed-role/r/eve`).
    let name = if lower.starts_with("arn:") {
        lower.rsplit(['/', ':']).next().unwrap_or(&lower).to_owned()
    } else {
        lower.clone()
    };
    let (local, domain) = match name.split_once('@') {
        Some((local, domain)) => (local.to_owned(), Some(domain.to_owned())),
        None => (name.clone(), None),
    };
    // A plus-alias is the same mailbox.
    let login = local.split('+').next().unwrap_or(&local).to_owned();
    let mut out = vec![lower.clone()];
    out.extend(assumed_role(&lower));
    if let Some(domain) = domain {
        out.push(format!("{login}@{domain}"));
    }
    out.push(login);
    out.retain(|k| !k.is_empty());
    out.dedup();
    out
}

/// For an assumed-role session (`arn:aws:sts::123:assumed-role/ops/anything`, the form CloudTrail
/// records as the grantor), the role it is a session of: its IAM ARN (the form a team's identity
/// map holds) and its name. The session name is the caller's choice, so it alone must not decide
/// who the principal is.
fn assumed_role(lower_arn: &str) -> Vec<String> {
    let Some(rest) = lower_arn.strip_prefix("arn:") else {
        return Vec::new();
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let [partition, "sts", _region, account, resource] = parts[..] else {
        return Vec::new();
    };
    let Some(role) = resource
        .strip_prefix("assumed-role/")
        .and_then(|r| r.split('/').next())
        .filter(|r| !r.is_empty())
    else {
        return Vec::new();
    };
    vec![
        format!("arn:{partition}:iam::{account}:role/{role}"),
        role.to_owned(),
    ]
}

/// Domains that are one organisation (`REVIEW_DOMAIN_ALIASES`: groups separated by `;`, the
/// domains of a group by `,`, e.g. `corp.example,example.com`). An address under one domain
/// of a group is looked up in the identity map under every domain of the group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainAliases(Vec<Vec<String>>);

impl DomainAliases {
    /// Parse the setting; an error says which domain is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut groups = Vec::new();
        for group in text.split(';') {
            let domains: Vec<String> = group
                .split(',')
                .map(|d| d.trim().trim_start_matches('@').to_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
            for d in &domains {
                let ok = d.contains('.')
                    && !d.starts_with('.')
                    && !d.ends_with('.')
                    && d.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                if !ok {
                    return Err(format!(
                        "{:?} is not a domain such as corp.example",
                        crate::text::excerpt(d)
                    ));
                }
            }
            if domains.len() == 1 {
                return Err(format!(
                    "{:?} has no alias: list two or more domains of one organisation, comma-separated",
                    domains[0]
                ));
            }
            if !domains.is_empty() {
                groups.push(domains);
            }
        }
        Ok(Self(groups))
    }

    /// Every domain of `domain`'s organisation (itself alone when it is in no group).
    pub fn same_org(&self, domain: &str) -> Vec<String> {
        let domain = domain.to_lowercase();
        self.0
            .iter()
            .find(|group| group.contains(&domain))
            .cloned()
            .unwrap_or_else(|| vec![domain])
    }
}

/// The exact forms under which the identity map may hold this identity: lower case; an
/// address also without its plus-alias, and under every domain of its organisation.
pub fn map_forms(identity: &str, aliases: &DomainAliases) -> Vec<String> {
    let lower = identity.trim().to_lowercase();
    if lower.is_empty() {
        return Vec::new();
    }
    let mut out = vec![lower.clone()];
    if !lower.starts_with("arn:")
        && let Some((local, domain)) = lower.split_once('@')
    {
        let login = local.split('+').next().unwrap_or(local);
        for d in aliases.same_org(domain) {
            out.push(format!("{login}@{d}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether any of `identities` (one person's, e.g. as the identity map resolves them) is the
/// principal, under the comparison of [`keys`].
pub fn any_is(principal: &str, identities: &[String]) -> bool {
    let theirs = keys(principal);
    identities
        .iter()
        .flat_map(|i| keys(i))
        .any(|k| theirs.contains(&k))
}

/// Whether any identity of the clicker (their Slack user id, their Slack email) is the
/// principal's.
pub fn same_person(principal: &str, user_id: &str, email: Option<&str>) -> bool {
    let theirs = keys(principal);
    let mine = keys(user_id)
        .into_iter()
        .chain(email.map(keys).unwrap_or_default());
    mine.into_iter().any(|k| theirs.contains(&k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_one_person_matches_their_slack_email() {
        let email = Some("eve.mallet@corp.example");
        for principal in [
            "eve.mallet@corp.example",
            "Eve.Mallet@Corp.Example",
            "eve.mallet",
            "eve.mallet+admin@corp.example",
            "eve.mallet@other.example",
            "arn:aws:iam::123456789012:user/eve.mallet",
            "arn:aws:sts::123456789012:assumed-role/Admin/eve.mallet",
        ] {
            assert!(same_person(principal, "U0EVE", email), "{principal}");
        }
    }

    #[test]
    fn a_session_of_a_role_is_that_role_whatever_the_session_is_called() {
        let session = "arn:aws:sts::123456789012:assumed-role/ops-7f3a/x";
        let keys = keys(session);
        assert!(keys.contains(&"arn:aws:iam::123456789012:role/ops-7f3a".to_owned()));
        assert!(keys.contains(&"ops-7f3a".to_owned()));
        let mapped = vec!["arn:aws:iam::123456789012:role/ops-7f3a".to_owned()];
        assert!(any_is(session, &mapped));
        assert!(any_is(
            "arn:aws-us-gov:sts::1:assumed-role/Admin/someone",
            &["arn:aws-us-gov:iam::1:role/admin".to_owned()]
        ));
        assert!(assumed_role("arn:aws:iam::1:user/eve").is_empty());
    }

    #[test]
    fn other_people_do_not_match() {
        let email = Some("eve.mallet@corp.example");
        for principal in ["bob@corp.example", "arn:aws:iam::1:user/bob", "mallet", ""] {
            assert!(!same_person(principal, "U0EVE", email), "{principal}");
        }
    }

    #[test]
    fn an_address_is_looked_up_under_every_domain_of_its_organisation() {
        let aliases = DomainAliases::parse("corp.example, Example.com; a.org,b.org").unwrap();
        assert_eq!(
            map_forms("Eve+ops@example.com", &aliases),
            ["eve+ops@example.com", "eve@corp.example", "eve@example.com"]
        );
        assert_eq!(
            map_forms("eve+x@other.example", &aliases),
            ["eve+x@other.example", "eve@other.example"]
        );
        assert_eq!(
            map_forms("arn:aws:iam::1:user/eve", &aliases),
            ["arn:aws:iam::1:user/eve"]
        );
        for bad in ["corp.example", "corp example,x.org", "nodot,x.org"] {
            assert!(DomainAliases::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(DomainAliases::parse("").unwrap(), DomainAliases::default());
    }

    #[test]
    fn a_slack_user_id_principal_matches_the_clicker() {
        assert!(same_person("U0EVE", "U0EVE", None));
    }
}
