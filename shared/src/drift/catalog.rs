//! The scope risk catalog: how dangerous each well-known scope is, and what it lets an app do.
//! A change's severity (and so its Linear priority) comes from here.
//!
//! Scopes not in the catalog get [`UNKNOWN_SCOPE_RISK`]: an app asking for something we cannot
//! classify deserves a human look, but not a page.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::provider::Provider;

/// How much a grant or change matters. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Linear priority: 1 urgent, 2 high, 3 medium, 4 low.
    pub fn linear_priority(self) -> i32 {
        match self {
            Severity::Critical => 1,
            Severity::High => 2,
            Severity::Medium => 3,
            Severity::Low => 4,
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The risk given to a scope the catalog does not know.
pub const UNKNOWN_SCOPE_RISK: Severity = Severity::Medium;

/// One catalog entry.
#[derive(Debug, Clone, Copy)]
pub struct ScopeInfo {
    pub scope: &'static str,
    pub risk: Severity,
    pub grants: &'static str,
}

use Severity::{Critical, High, Low, Medium};

const fn s(scope: &'static str, risk: Severity, grants: &'static str) -> ScopeInfo {
    ScopeInfo {
        scope,
        risk,
        grants,
    }
}

const GOOGLE: &[ScopeInfo] = &[
    s(
        "https://mail.google.com/",
        Critical,
        "read, send and delete all Gmail and change mail settings",
    ),
    s(
        "https://www.googleapis.com/auth/gmail.modify",
        High,
        "read, compose and modify all Gmail messages",
    ),
    s(
        "https://www.googleapis.com/auth/gmail.readonly",
        High,
        "read all Gmail messages and settings",
    ),
    s(
        "https://www.googleapis.com/auth/gmail.send",
        High,
        "send email as the user",
    ),
    s(
        "https://www.googleapis.com/auth/gmail.settings.basic",
        High,
        "change mail settings, including filters",
    ),
    s(
        "https://www.googleapis.com/auth/gmail.settings.sharing",
        Critical,
        "set up mail forwarding and delegation",
    ),
    s(
        "https://www.googleapis.com/auth/drive",
        Critical,
        "read, change and delete every file in Google Drive",
    ),
    s(
        "https://www.googleapis.com/auth/drive.readonly",
        High,
        "read every file in Google Drive",
    ),
    s(
        "https://www.googleapis.com/auth/drive.file",
        Low,
        "use only the Drive files the app created or was opened with",
    ),
    s(
        "https://www.googleapis.com/auth/documents",
        High,
        "read and change all Google Docs",
    ),
    s(
        "https://www.googleapis.com/auth/spreadsheets",
        High,
        "read and change all Google Sheets",
    ),
    s(
        "https://www.googleapis.com/auth/calendar",
        Medium,
        "read and change all calendars",
    ),
    s(
        "https://www.googleapis.com/auth/calendar.readonly",
        Medium,
        "read all calendars",
    ),
    s(
        "https://www.googleapis.com/auth/contacts",
        Medium,
        "read and change contacts",
    ),
    s(
        "https://www.googleapis.com/auth/contacts.readonly",
        Medium,
        "read contacts",
    ),
    s(
        "https://www.googleapis.com/auth/admin.directory.user",
        Critical,
        "create, change and delete Workspace users",
    ),
    s(
        "https://www.googleapis.com/auth/admin.directory.user.readonly",
        Medium,
        "read the Workspace user directory",
    ),
    s(
        "https://www.googleapis.com/auth/admin.directory.group",
        High,
        "manage Workspace groups and memberships",
    ),
    s(
        "https://www.googleapis.com/auth/admin.reports.audit.readonly",
        High,
        "read Workspace audit logs",
    ),
    s(
        "https://www.googleapis.com/auth/cloud-platform",
        Critical,
        "act on all Google Cloud resources the user can reach",
    ),
    s(
        "https://www.googleapis.com/auth/ediscovery",
        Critical,
        "run Vault eDiscovery searches and exports",
    ),
    s(
        "https://www.googleapis.com/auth/userinfo.email",
        Low,
        "see the user's email address",
    ),
    s(
        "https://www.googleapis.com/auth/userinfo.profile",
        Low,
        "see the user's basic profile",
    ),
    s("openid", Low, "sign the user in"),
];

const MICROSOFT: &[ScopeInfo] = &[
    s("Mail.Read", High, "read the user's mail"),
    s(
        "Mail.ReadWrite",
        High,
        "read, change and delete the user's mail",
    ),
    s("Mail.Send", High, "send mail as the user"),
    s(
        "MailboxSettings.ReadWrite",
        High,
        "change mailbox settings, including forwarding rules",
    ),
    s(
        "Mail.ReadWrite.All",
        Critical,
        "read and change mail in every mailbox",
    ),
    s(
        "full_access_as_app",
        Critical,
        "act on every mailbox in Exchange",
    ),
    s("Files.Read.All", High, "read every file the user can reach"),
    s(
        "Files.ReadWrite.All",
        Critical,
        "read, change and delete every file the user can reach",
    ),
    s("Sites.Read.All", High, "read items in all SharePoint sites"),
    s(
        "Sites.ReadWrite.All",
        Critical,
        "change items in all SharePoint sites",
    ),
    s(
        "Sites.FullControl.All",
        Critical,
        "fully control all SharePoint sites",
    ),
    s("Directory.Read.All", High, "read the whole directory"),
    s(
        "Directory.ReadWrite.All",
        Critical,
        "change the whole directory",
    ),
    s(
        "Directory.AccessAsUser.All",
        Critical,
        "act on the directory as the signed-in user",
    ),
    s("User.Read", Low, "sign in and read the user's profile"),
    s("User.Read.All", Medium, "read all users' profiles"),
    s("User.ReadWrite.All", Critical, "change all users' profiles"),
    s("Group.Read.All", Medium, "read all groups"),
    s(
        "Group.ReadWrite.All",
        High,
        "change all groups and their content",
    ),
    s(
        "Application.ReadWrite.All",
        Critical,
        "create and change app registrations and their credentials",
    ),
    s(
        "AppRoleAssignment.ReadWrite.All",
        Critical,
        "grant itself and others any app permission",
    ),
    s(
        "RoleManagement.ReadWrite.Directory",
        Critical,
        "assign directory roles, including Global Administrator",
    ),
    s("Chat.Read.All", High, "read all Teams chats"),
    s(
        "ChannelMessage.Read.All",
        High,
        "read all Teams channel messages",
    ),
    s(
        "Calendars.ReadWrite",
        Medium,
        "read and change the user's calendars",
    ),
    s("Contacts.Read", Medium, "read the user's contacts"),
    s(
        "offline_access",
        Low,
        "keep access while the user is away (refresh tokens)",
    ),
    s("openid", Low, "sign the user in"),
    s("profile", Low, "see the user's basic profile"),
    s("email", Low, "see the user's email address"),
];

const GITHUB: &[ScopeInfo] = &[
    s(
        "repo",
        High,
        "read and write all private and public repositories",
    ),
    s("public_repo", Medium, "write to public repositories"),
    s("delete_repo", Critical, "delete repositories"),
    s(
        "workflow",
        High,
        "change GitHub Actions workflows (and so run code with repository secrets)",
    ),
    s(
        "admin:org",
        Critical,
        "fully manage the organisation, its members and teams",
    ),
    s("write:org", High, "change organisation and team membership"),
    s("read:org", Low, "read organisation and team membership"),
    s("admin:repo_hook", High, "manage repository webhooks"),
    s("admin:org_hook", High, "manage organisation webhooks"),
    s("admin:public_key", High, "manage the user's SSH keys"),
    s("admin:gpg_key", Medium, "manage the user's GPG keys"),
    s("admin:enterprise", Critical, "fully manage the enterprise"),
    s(
        "security_events",
        High,
        "read and change code scanning and security alerts",
    ),
    s("codespace", High, "create and manage codespaces"),
    s("write:packages", Medium, "publish packages"),
    s("read:packages", Low, "download packages"),
    s("gist", Medium, "create gists"),
    s("user", Medium, "change the user's profile"),
    s("user:email", Low, "read the user's email addresses"),
    s("read:user", Low, "read the user's profile"),
];

const SLACK: &[ScopeInfo] = &[
    s("admin", Critical, "administer the workspace"),
    s(
        "client",
        Critical,
        "act as the user in every conversation (legacy client scope)",
    ),
    s("channels:history", High, "read messages in public channels"),
    s("groups:history", High, "read messages in private channels"),
    s("im:history", High, "read direct messages"),
    s("mpim:history", High, "read group direct messages"),
    s(
        "search:read",
        High,
        "search all messages and files the user can see",
    ),
    s("files:read", High, "read files shared in conversations"),
    s("files:write", Medium, "upload, change and delete files"),
    s("chat:write", Medium, "post messages"),
    s(
        "users:read.email",
        Medium,
        "read every member's email address",
    ),
    s("users:read", Low, "read the member list"),
    s("channels:read", Low, "list public channels"),
    s("identity.basic", Low, "sign the user in"),
];

const OKTA: &[ScopeInfo] = &[
    s(
        "okta.users.manage",
        Critical,
        "create, change and deactivate users",
    ),
    s("okta.users.read", Medium, "read all users"),
    s("okta.groups.manage", High, "change groups and memberships"),
    s(
        "okta.apps.manage",
        Critical,
        "create and change app integrations",
    ),
    s("okta.roles.manage", Critical, "assign admin roles"),
    s(
        "okta.policies.manage",
        Critical,
        "change sign-on and MFA policies",
    ),
    s("okta.factors.manage", Critical, "reset users' MFA factors"),
    s("okta.logs.read", Medium, "read the system log"),
];

fn table(provider: Provider) -> &'static [ScopeInfo] {
    match provider {
        Provider::Google => GOOGLE,
        Provider::Microsoft => MICROSOFT,
        Provider::Github => GITHUB,
        Provider::Slack => SLACK,
        Provider::Okta => OKTA,
        Provider::Other => &[],
    }
}

/// Whether `provider` compares scope names without regard to case.
fn case_insensitive(provider: Provider) -> bool {
    matches!(provider, Provider::Microsoft)
}

/// The catalog entry for a normalised scope, if the catalog knows it.
pub fn lookup(provider: Provider, scope: &str) -> Option<&'static ScopeInfo> {
    let entries = table(provider);
    if case_insensitive(provider) {
        entries.iter().find(|e| e.scope.eq_ignore_ascii_case(scope))
    } else {
        entries.iter().find(|e| e.scope == scope)
    }
}

/// The catalog's spelling of a case-insensitive scope name.
pub(crate) fn canonical_spelling(provider: Provider, scope: &str) -> Option<&'static str> {
    lookup(provider, scope).map(|e| e.scope)
}

/// The risk of one scope, with the stated default for unknown ones.
pub fn scope_risk(provider: Provider, scope: &str) -> Severity {
    lookup(provider, scope).map_or(UNKNOWN_SCOPE_RISK, |e| e.risk)
}

/// What a scope lets an app do, in words.
pub fn scope_description(provider: Provider, scope: &str) -> &'static str {
    lookup(provider, scope).map_or("not in the risk catalog", |e| e.grants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_high_risk_scopes_in_the_catalog() {
        for provider in [
            Provider::Google,
            Provider::Microsoft,
            Provider::Github,
            Provider::Slack,
        ] {
            assert!(
                table(provider).iter().any(|e| e.risk >= High),
                "{provider} has no high-risk scope"
            );
        }
    }

    #[test]
    fn unknown_scopes_get_the_stated_default() {
        assert_eq!(scope_risk(Provider::Other, "anything"), UNKNOWN_SCOPE_RISK);
        assert_eq!(
            scope_risk(Provider::Google, "https://example.com/x"),
            Medium
        );
    }

    #[test]
    fn microsoft_lookup_ignores_case() {
        assert_eq!(
            scope_risk(Provider::Microsoft, "files.readwrite.all"),
            Critical
        );
    }

    #[test]
    fn catalog_entries_are_unique_per_provider() {
        for provider in Provider::ALL {
            let entries = table(provider);
            for (i, a) in entries.iter().enumerate() {
                for b in &entries[i + 1..] {
                    assert!(
                        !a.scope.eq_ignore_ascii_case(b.scope),
                        "{provider}: {} twice",
                        a.scope
                    );
                }
            }
        }
    }

    #[test]
    fn severity_maps_to_linear_priority() {
        assert_eq!(Critical.linear_priority(), 1);
        assert_eq!(High.linear_priority(), 2);
        assert_eq!(Medium.linear_priority(), 3);
        assert_eq!(Low.linear_priority(), 4);
    }
}
