//! Algebra of the snapshot diff, checked on random snapshots: diff(A, A) is empty; the classes
//! partition the union of keys; applying diff(A, B) to A gives B.

use std::collections::BTreeSet;

use proptest::prelude::*;
use secops_shared::drift::diff::{self, ChangeKind, Snapshot};
use secops_shared::drift::grant::{ConsentType, GrantKey, GrantState, Provider};
use secops_shared::drift::scopes::Scopes;

const SCOPES: &[&str] = &[
    "repo",
    "read:org",
    "admin:org",
    "workflow",
    "gist",
    "user:email",
];

fn key() -> impl Strategy<Value = GrantKey> {
    // A small key space so that two random snapshots overlap a lot.
    (0..3usize, 0..4u8, 0..4u8).prop_map(|(p, c, u)| GrantKey {
        provider: [Provider::Github, Provider::Google, Provider::Slack][p],
        client_id: format!("app-{c}"),
        principal: if u == 0 {
            "*".to_owned()
        } else {
            format!("user{u}@example.com")
        },
    })
}

fn state() -> impl Strategy<Value = GrantState> {
    (
        proptest::sample::subsequence(SCOPES, 0..=SCOPES.len()),
        any::<bool>(),
        0..2u8,
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(scopes, admin, name, verified)| GrantState {
            app_name: format!("App {name}"),
            scopes: Scopes::normalise(Provider::Github, scopes),
            consent: if admin {
                ConsentType::Admin
            } else {
                ConsentType::User
            },
            publisher: None,
            verified,
        })
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    proptest::collection::btree_map(key(), state(), 0..24)
}

proptest! {
    #[test]
    fn diff_of_a_snapshot_with_itself_is_empty(a in snapshot()) {
        prop_assert!(diff::diff(&a, &a).is_empty());
    }

    #[test]
    fn applying_the_diff_to_yesterday_gives_today(a in snapshot(), b in snapshot()) {
        let changes = diff::diff(&a, &b);
        let mut applied = a.clone();
        diff::apply(&mut applied, &changes);
        prop_assert_eq!(applied, b);
    }

    #[test]
    fn classes_partition_the_union_of_keys(a in snapshot(), b in snapshot()) {
        let changes = diff::diff(&a, &b);
        let union: BTreeSet<&GrantKey> = a.keys().chain(b.keys()).collect();
        let changed: Vec<&GrantKey> = changes.iter().map(|c| &c.key).collect();
        let changed_set: BTreeSet<&GrantKey> = changed.iter().copied().collect();
        // every key at most once
        prop_assert_eq!(changed.len(), changed_set.len());
        for k in &union {
            let unchanged = a.get(*k) == b.get(*k);
            prop_assert_eq!(unchanged, !changed_set.contains(k), "key {}", k);
        }
        for c in &changes {
            let expected = match (a.get(&c.key), b.get(&c.key)) {
                (None, Some(_)) => vec![ChangeKind::New],
                (Some(_), None) => vec![ChangeKind::Revoked],
                (Some(_), Some(_)) => vec![ChangeKind::Elevated, ChangeKind::Reduced, ChangeKind::Metadata],
                (None, None) => vec![],
            };
            prop_assert!(expected.contains(&c.kind), "{} classified {}", c.key, c.kind);
        }
    }

    #[test]
    fn elevated_means_a_scope_gained_or_consent_widened(a in snapshot(), b in snapshot()) {
        for c in diff::diff(&a, &b) {
            let gained = !c.gained_scopes().is_empty();
            match c.kind {
                ChangeKind::Elevated => prop_assert!(gained || c.consent_widened()),
                ChangeKind::Reduced => prop_assert!(!gained && !c.consent_widened() && (!c.lost_scopes().is_empty() || c.before.as_ref().unwrap().consent != c.after.as_ref().unwrap().consent)),
                ChangeKind::Metadata => prop_assert!(c.gained_scopes().is_empty() && c.lost_scopes().is_empty()),
                _ => {}
            }
        }
    }

    #[test]
    fn scope_normalisation_is_idempotent(raw in proptest::collection::vec("[ a-zA-Z:.,]{0,20}", 0..6)) {
        for provider in Provider::ALL {
            let once = Scopes::normalise(provider, &raw);
            let twice = Scopes::normalise(provider, once.as_slice());
            prop_assert_eq!(once, twice);
        }
    }
}
