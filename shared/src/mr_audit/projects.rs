//! Which GitLab projects the MR audit accepts (`MR_AUDIT_GITLAB_PROJECTS`): project ids, project
//! paths, and groups (`group/*`, every project below the group at any depth). Unset, every
//! project the webhook token reaches is accepted, as before.
//!
//! The webhook checks the delivery's project id and path; the path there is whatever the sender
//! wrote, so the worker checks again with the path GitLab's API reports for that project id.

/// A parsed allowlist; empty lists never come out of [`ProjectAllowlist::parse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectAllowlist {
    ids: Vec<u64>,
    /// Lower-cased `group/project` paths.
    paths: Vec<String>,
    /// Lower-cased group paths, matched with a `/` after them.
    groups: Vec<String>,
}

impl ProjectAllowlist {
    /// `123, security/app, platform/*`; `None` for an empty setting. An entry that is neither
    /// an id nor a path is refused with its text.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        let mut list = Self::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if let Ok(id) = entry.parse::<u64>() {
                list.ids.push(id);
                continue;
            }
            let (path, group) = match entry.strip_suffix("/*") {
                Some(group) => (group, true),
                None => (entry, false),
            };
            let valid = !path.is_empty()
                && path.split('/').all(|part| {
                    !part.is_empty()
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                });
            if !valid {
                return Err(format!(
                    "{entry:?} is not a project id, a project path (group/project) or a group (group/*)"
                ));
            }
            let path = path.to_ascii_lowercase();
            if group {
                list.groups.push(path);
            } else {
                list.paths.push(path);
            }
        }
        let empty = list.ids.is_empty() && list.paths.is_empty() && list.groups.is_empty();
        Ok((!empty).then_some(list))
    }

    /// The projects listed by id or path (`123`, `security/app`), as written (paths lower-cased).
    pub fn projects(&self) -> Vec<String> {
        self.ids
            .iter()
            .map(u64::to_string)
            .chain(self.paths.iter().cloned())
            .collect()
    }

    /// The groups listed (`platform` for `platform/*`).
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// Whether the project with this id and path (GitLab paths are case-insensitive) is listed.
    pub fn allows(&self, project_id: u64, path: &str) -> bool {
        let path = path.trim_matches('/').to_ascii_lowercase();
        self.ids.contains(&project_id)
            || self.paths.contains(&path)
            || self.groups.iter().any(|g| {
                path.strip_prefix(g.as_str())
                    .is_some_and(|r| r.starts_with('/'))
            })
    }
}

/// Whether `list` (unset: everything) accepts the project.
pub fn accepted(list: Option<&ProjectAllowlist>, project_id: u64, path: &str) -> bool {
    list.is_none_or(|l| l.allows(project_id, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_paths_and_groups_are_matched_and_nothing_else() {
        let list = ProjectAllowlist::parse(" 42, Security/App ,platform/*")
            .unwrap()
            .unwrap();
        assert!(list.allows(42, "anything/else"));
        assert!(list.allows(1, "security/app"));
        assert!(list.allows(1, "platform/infra/terraform"));
        for (id, path) in [
            (1, "security/app2"),
            (1, "security"),
            (1, "platform"),
            (1, "platformx/app"),
            (1, "evil/security/app"),
        ] {
            assert!(!list.allows(id, path), "{path}");
        }
    }

    #[test]
    fn an_empty_setting_accepts_everything_and_bad_entries_are_named() {
        assert_eq!(ProjectAllowlist::parse(" , ").unwrap(), None);
        assert!(accepted(None, 7, "any/project"));
        for bad in ["group//x", "/*", "a b", "https://gitlab.com/g/p", "*"] {
            let err = ProjectAllowlist::parse(bad).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
