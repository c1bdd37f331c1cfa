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
    let mut out = vec![lower];
    if let Some(domain) = domain {
        out.push(format!("{login}@{domain}"));
    }
    out.push(login);
    out.retain(|k| !k.is_empty());
    out.dedup();
    out
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
    fn other_people_do_not_match() {
        let email = Some("eve.mallet@corp.example");
        for principal in ["bob@corp.example", "arn:aws:iam::1:user/bob", "mallet", ""] {
            assert!(!same_person(principal, "U0EVE", email), "{principal}");
        }
    }

    #[test]
    fn a_slack_user_id_principal_matches_the_clicker() {
        assert!(same_person("U0EVE", "U0EVE", None));
    }
}
