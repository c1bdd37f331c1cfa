//! A team's identity map (`review_identity_map`): which Slack user, identity-provider login and
//! cloud principal are one person. It covers principals whose text does not contain the
//! person's login at all (an opaque IdP id, a role without a session name), which
//! [`super::identity`] cannot see. Loaded from a CSV file (all or nothing) or written by any
//! sync job; read by the decision check and the self-grant feature.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::identity::{self, DomainAliases};
use super::store::{ReviewStore, ReviewStoreError};
use crate::rows::{self, ImportError};

/// How many rows apart two identities of one person may be (rows sharing an identity chain).
const MAX_HOPS: usize = 4;

/// One row: at least two of the three identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRow {
    pub slack_user_id: Option<String>,
    pub idp_login: Option<String>,
    pub cloud_principal: Option<String>,
    pub note: Option<String>,
}

/// Every identity of the person (or people) the seeds name: the seeds themselves, and every
/// identity of a map row sharing one with them, rows followed a few hops deep. Compared as
/// [`identity::map_forms`] says (case, plus-aliases, domain aliases).
pub async fn person(
    store: &ReviewStore,
    seeds: &[&str],
    aliases: &DomainAliases,
) -> Result<Vec<String>, ReviewStoreError> {
    let mut known: BTreeSet<String> = seeds
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let mut frontier: Vec<String> = known.iter().cloned().collect();
    for _ in 0..MAX_HOPS {
        let forms: Vec<String> = frontier
            .iter()
            .flat_map(|s| identity::map_forms(s, aliases))
            .collect();
        let rows = store
            .connection()
            .query(
                "SELECT slack_user_id, idp_login, cloud_principal FROM review_identity_map
                  WHERE lower(slack_user_id) = ANY($1) OR lower(idp_login) = ANY($1)
                     OR lower(cloud_principal) = ANY($1)",
                &[&forms],
            )
            .await?;
        frontier = rows
            .iter()
            .flat_map(|r| (0..3).filter_map(move |i| r.get::<_, Option<String>>(i)))
            .filter(|v| known.insert(v.clone()))
            .collect();
        if frontier.is_empty() {
            break;
        }
    }
    Ok(known.into_iter().collect())
}

/// Whether the map makes `a` and `b` one person (beyond what their text shows).
pub async fn same_person(
    store: &ReviewStore,
    a: &str,
    b: &str,
    aliases: &DomainAliases,
) -> Result<bool, ReviewStoreError> {
    if a.trim().is_empty() || a == "unknown" || b.trim().is_empty() || b == "unknown" {
        return Ok(false);
    }
    let identities = person(store, &[a], aliases).await?;
    Ok(identity::any_is(b, &identities))
}

#[derive(Deserialize)]
struct CsvRow {
    #[serde(default)]
    slack_user_id: String,
    #[serde(default)]
    idp_login: String,
    #[serde(default)]
    cloud_principal: String,
    #[serde(default)]
    note: String,
}

fn some(text: String) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// Parse an identity map CSV (header `slack_user_id,idp_login,cloud_principal,note`): every
/// row names at least two identities, a Slack id looks like one (`U…`/`W…`), no row repeats.
/// Any bad row: nothing is returned, every error is (up to the first few).
pub fn parse_csv(origin: &str, content: &str) -> Result<Vec<MapRow>, ImportError> {
    let parsed = rows::read_csv(origin, content, |r: CsvRow| {
        let row = MapRow {
            slack_user_id: some(r.slack_user_id),
            idp_login: some(r.idp_login),
            cloud_principal: some(r.cloud_principal),
            note: some(r.note),
        };
        if let Some(id) = &row.slack_user_id
            && !(id.starts_with(['U', 'W'])
                && id.len() > 1
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        {
            return Err((
                "slack_user_id",
                format!(
                    "{:?} is not a Slack user id (U… or W…)",
                    crate::text::excerpt(id)
                ),
            ));
        }
        let named = [&row.slack_user_id, &row.idp_login, &row.cloud_principal]
            .into_iter()
            .flatten()
            .count();
        if named < 2 {
            return Err((
                "(row)",
                "names fewer than two of slack_user_id, idp_login, cloud_principal".to_owned(),
            ));
        }
        Ok(row)
    })?;
    rows::all_or_nothing(
        origin,
        parsed,
        |r: &MapRow| {
            let lower = |v: &Option<String>| v.as_deref().unwrap_or_default().to_lowercase();
            (
                lower(&r.slack_user_id),
                lower(&r.idp_login),
                lower(&r.cloud_principal),
            )
        },
        |_, first| ("(row)", format!("repeats row {first}")),
    )
}

/// Replace the whole map with `rows` in one transaction (the file is the map: a person removed
/// from it is no longer linked). Returns the number of rows.
pub async fn replace(store: &ReviewStore, rows: &[MapRow]) -> Result<usize, ReviewStoreError> {
    let mut client = store.connection().lock().await;
    let tx = client.transaction().await?;
    tx.execute("DELETE FROM review_identity_map", &[]).await?;
    for r in rows {
        tx.execute(
            "INSERT INTO review_identity_map (slack_user_id, idp_login, cloud_principal, note)
             VALUES ($1, $2, $3, $4)",
            &[&r.slack_user_id, &r.idp_login, &r.cloud_principal, &r.note],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_sample_map_is_valid() {
        let sample = include_str!("../../../infra/sample/privileged-review/identity-map.csv");
        assert_eq!(parse_csv("identity-map.csv", sample).unwrap().len(), 3);
    }

    #[test]
    fn a_map_file_is_read_and_bad_rows_are_named() {
        let ok = parse_csv(
            "map.csv",
            "slack_user_id,idp_login,cloud_principal,note\n\
             U0ANNA,anna@corp.example,arn:aws:iam::1:role/ops-7f3a,on call\n\
             ,00u1abcd,arn:aws:iam::1:user/x-77,\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].slack_user_id, None);
        let err = parse_csv(
            "map.csv",
            "slack_user_id,idp_login,cloud_principal\n\
             anna,anna@corp.example,\n\
             U0BOB,,\n\
             U0ANNA,anna@corp.example,\n\
             U0ANNA,ANNA@corp.example,\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("row 1") && err.contains("slack_user_id"),
            "{err}"
        );
        assert!(
            err.contains("row 2") && err.contains("fewer than two"),
            "{err}"
        );
        assert!(
            err.contains("row 4") && err.contains("repeats row 3"),
            "{err}"
        );
    }
}
