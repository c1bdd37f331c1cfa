//! Risk scoring: deterministic features of a grant, the rule floor they imply, and how the
//! model's opinion is combined with it. The model may raise a level, never lower it below the
//! floor; without a usable model answer the rules decide and nothing resolves itself.

use std::fmt;

use chrono::{Datelike, Timelike, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::event::PrivilegedGrant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Low,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Low => "low",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }

    pub fn parse(s: &str) -> Option<RiskLevel> {
        match s {
            "low" => Some(RiskLevel::Low),
            "medium" => Some(RiskLevel::Medium),
            "high" => Some(RiskLevel::High),
            _ => None,
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings the features depend on.
#[derive(Debug, Clone)]
pub struct RiskConfig {
    pub timezone: Tz,
    /// Business hours `[start, end)` in the timezone, on Monday to Friday.
    pub business_start_hour: u32,
    pub business_end_hour: u32,
    /// Case-insensitive substrings of a role that make it break-glass.
    pub break_glass_patterns: Vec<String>,
    /// Case-insensitive substrings of a role that make it owner / super-admin level.
    pub owner_patterns: Vec<String>,
    /// This many grants by one grantor in one run is a burst.
    pub burst_threshold: usize,
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self {
            timezone: Tz::UTC,
            business_start_hour: 8,
            business_end_hour: 19,
            break_glass_patterns: ["break-glass", "breakglass", "break glass", "emergency"]
                .map(str::to_owned)
                .to_vec(),
            owner_patterns: [
                "owner",
                "super admin",
                "superadmin",
                "global administrator",
                "root",
                "administratoraccess",
            ]
            .map(str::to_owned)
            .to_vec(),
            burst_threshold: 5,
        }
    }
}

/// What the audit history says about a grant's grantee and grantor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// Earlier grants of this role to this grantee.
    pub same_role_before: u32,
    /// Earlier privileged grants of any role to this grantee.
    pub any_role_before: u32,
    /// Earlier grants this grantor made (to anyone).
    pub grantor_grants_before: u32,
    /// Earlier review decisions about this grantee.
    pub approved_before: u32,
    pub revoked_before: u32,
}

/// The deterministic facts the rules and the model both see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    pub self_grant: bool,
    pub break_glass_role: bool,
    pub owner_role: bool,
    pub off_hours: bool,
    /// The grant's time in the configured timezone, as people read it.
    pub local_time: String,
    pub first_time_role: bool,
    pub unusual_grantor: bool,
    /// Grants by the same grantor in this run.
    pub grantor_grants_in_run: usize,
    pub burst: bool,
    pub history: History,
}

impl Features {
    /// One line for the review card.
    pub fn history_summary(&self) -> String {
        let h = &self.history;
        format!(
            "{} earlier grant(s) of this role, {} privileged grant(s) in all; decisions: {} approved, {} revoked; grantor made {} earlier grant(s)",
            h.same_role_before,
            h.any_role_before,
            h.approved_before,
            h.revoked_before,
            h.grantor_grants_before
        )
    }
}

fn matches_any(text: &str, patterns: &[String]) -> bool {
    let lower = text.to_lowercase();
    patterns.iter().any(|p| lower.contains(&p.to_lowercase()))
}

/// Compute the features of one grant.
pub fn features(
    grant: &PrivilegedGrant,
    history: &History,
    grantor_grants_in_run: usize,
    config: &RiskConfig,
) -> Features {
    let local = grant.time.with_timezone(&config.timezone);
    let weekend = matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
    let hour = local.hour();
    let off_hours =
        weekend || hour < config.business_start_hour || hour >= config.business_end_hour;
    Features {
        // The same resolution as the "never your own grant" check: an ARN grantor and a login
        // grantee (the cloudtrail preset) are one person when they name the same user.
        self_grant: !grant.grantor.is_empty()
            && grant.grantor != "unknown"
            && super::identity::keys(&grant.grantor)
                .iter()
                .any(|k| super::identity::keys(&grant.grantee).contains(k)),
        break_glass_role: matches_any(&grant.role, &config.break_glass_patterns),
        owner_role: matches_any(&grant.role, &config.owner_patterns),
        off_hours,
        local_time: reviewer_time(grant.time, config.timezone),
        first_time_role: history.same_role_before == 0,
        unusual_grantor: history.grantor_grants_before == 0,
        grantor_grants_in_run,
        burst: grantor_grants_in_run >= config.burst_threshold,
        history: history.clone(),
    }
}

/// The lowest level the rules allow, and why.
pub fn rule_floor(f: &Features) -> (RiskLevel, Vec<String>) {
    let mut reasons = Vec::new();
    if f.self_grant {
        reasons.push("self-grant: the grantor gave the role to themselves".to_owned());
        return (RiskLevel::High, reasons);
    }
    let mut signals = 0;
    let mut flag = |on: bool, why: &str| {
        if on {
            signals += 1;
            reasons.push(why.to_owned());
        }
    };
    flag(f.break_glass_role, "break-glass role");
    // Owner-class roles (owner, super admin, AdministratorAccess, ...) are never left to the
    // model's word: like break-glass, at least medium, so never auto-resolved.
    flag(f.owner_role, "owner-class role");
    flag(f.off_hours, "granted outside business hours");
    flag(f.burst, "burst: many grants by the same grantor in one run");
    flag(
        f.first_time_role && f.unusual_grantor,
        "first time this grantee got this role, from a grantor with no grant history",
    );
    flag(
        f.history.revoked_before > 0,
        "a previous grant to this grantee was revoked on review",
    );
    let level = match signals {
        0 => RiskLevel::Low,
        1 => RiskLevel::Medium,
        _ => RiskLevel::High,
    };
    (level, reasons)
}

/// The model's verdict, once validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVerdict {
    pub level: RiskLevel,
    pub score: u8,
    pub reasons: Vec<String>,
}

/// The final assessment stored with the review and shown on the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    pub level: RiskLevel,
    /// 0–100: the model's score, or the rules' stand-in when there is none.
    pub score: u8,
    pub reasons: Vec<String>,
    pub floor: RiskLevel,
    /// The model's name when its answer was used.
    pub model: Option<String>,
    /// Why the model's answer was not used, when it was not.
    pub model_problem: Option<String>,
    pub prompt_hash: String,
}

impl Assessment {
    /// Only a low level reached with a usable model answer resolves without a person.
    pub fn auto_resolves(&self) -> bool {
        self.level == RiskLevel::Low && self.model.is_some()
    }
}

/// Combine the rule floor with the model's verdict (if any).
pub fn assess(
    features: &Features,
    verdict: Result<(ModelVerdict, String), String>,
    prompt_hash: &str,
) -> Assessment {
    let (floor, mut reasons) = rule_floor(features);
    match verdict {
        Ok((v, model)) => {
            let level = v.level.max(floor);
            if v.level < floor {
                reasons.push(format!(
                    "the model said {}, below the rule floor of {floor}; the floor stands",
                    v.level
                ));
            }
            reasons.extend(v.reasons.into_iter().map(|r| format!("model: {r}")));
            Assessment {
                level,
                score: v.score,
                reasons,
                floor,
                model: Some(model),
                model_problem: None,
                prompt_hash: prompt_hash.to_owned(),
            }
        }
        Err(problem) => {
            // Without the model, a quiet-looking grant still gets a person's eyes.
            let level = floor.max(RiskLevel::Medium);
            reasons.push(format!("model unavailable ({problem}): the rules decided"));
            Assessment {
                level,
                score: match level {
                    RiskLevel::Low => 20,
                    RiskLevel::Medium => 50,
                    RiskLevel::High => 80,
                },
                reasons,
                floor,
                model: None,
                model_problem: Some(problem),
                prompt_hash: prompt_hash.to_owned(),
            }
        }
    }
}

/// A time as reviewers read it everywhere (cards, decided cards): their timezone, named.
pub fn reviewer_time(time: chrono::DateTime<chrono::Utc>, timezone: Tz) -> String {
    time.with_timezone(&timezone)
        .format("%a %Y-%m-%d %H:%M %Z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn grant(grantor: &str, grantee: &str, role: &str, hour: u32) -> PrivilegedGrant {
        PrivilegedGrant {
            event_id: "e1".into(),
            // 2026-11-18 is a Wednesday.
            time: Utc.with_ymd_and_hms(2026, 11, 18, hour, 30, 0).unwrap(),
            grantor: grantor.into(),
            grantee: grantee.into(),
            role: role.into(),
            target: "okta".into(),
            source: "okta".into(),
        }
    }

    fn routine_history() -> History {
        History {
            same_role_before: 3,
            any_role_before: 5,
            grantor_grants_before: 12,
            ..History::default()
        }
    }

    fn f(g: &PrivilegedGrant, h: &History) -> Features {
        features(g, h, 1, &RiskConfig::default())
    }

    #[test]
    fn a_routine_daytime_grant_has_a_low_floor() {
        let g = grant("alice@x.com", "bob@x.com", "App Admin", 10);
        assert_eq!(rule_floor(&f(&g, &routine_history())).0, RiskLevel::Low);
    }

    #[test]
    fn a_self_grant_is_high() {
        let g = grant("bob@x.com", "BOB@x.com", "App Admin", 10);
        let (level, reasons) = rule_floor(&f(&g, &routine_history()));
        assert_eq!(level, RiskLevel::High);
        assert!(reasons[0].contains("self-grant"));
    }

    #[test]
    fn break_glass_is_at_least_medium_and_with_off_hours_high() {
        let day = grant("alice@x.com", "bob@x.com", "Break-Glass Admin", 10);
        assert_eq!(
            rule_floor(&f(&day, &routine_history())).0,
            RiskLevel::Medium
        );
        let night = grant("alice@x.com", "bob@x.com", "Break-Glass Admin", 3);
        assert_eq!(
            rule_floor(&f(&night, &routine_history())).0,
            RiskLevel::High
        );
    }

    #[test]
    fn a_self_grant_is_recognised_across_the_forms_of_one_identity() {
        for (grantor, grantee) in [
            ("arn:aws:iam::123456789012:user/eve.mallet", "eve.mallet"),
            ("eve.mallet@corp.example", "eve.mallet+admin@corp.example"),
            ("Eve.Mallet@corp.example", "eve.mallet@corp.example"),
        ] {
            let g = grant(grantor, grantee, "App Admin", 10);
            assert!(
                f(&g, &routine_history()).self_grant,
                "{grantor} -> {grantee}"
            );
        }
        let g = grant("alice@x.com", "bob@x.com", "App Admin", 10);
        assert!(!f(&g, &routine_history()).self_grant);
    }

    #[test]
    fn owner_class_roles_are_at_least_medium_and_never_resolve_themselves() {
        for role in ["Owner", "Super Admin", "AdministratorAccess"] {
            let day = grant("alice@x.com", "bob@x.com", role, 10);
            let features = f(&day, &routine_history());
            assert!(features.owner_role, "{role}");
            assert_eq!(rule_floor(&features).0, RiskLevel::Medium, "{role}");
        }
    }

    #[test]
    fn business_hours_follow_the_configured_timezone() {
        // 03:30 UTC is 12:30 in Tokyo, inside business hours there.
        let g = grant("alice@x.com", "bob@x.com", "App Admin", 3);
        let tokyo = RiskConfig {
            timezone: chrono_tz::Asia::Tokyo,
            ..RiskConfig::default()
        };
        let features = features(&g, &routine_history(), 1, &tokyo);
        assert!(!features.off_hours);
        assert!(
            features.local_time.contains("12:30"),
            "{}",
            features.local_time
        );
    }

    #[test]
    fn the_model_may_raise_but_never_lower_the_floor() {
        let g = grant("bob@x.com", "bob@x.com", "App Admin", 10);
        let feats = f(&g, &routine_history());
        let low = ModelVerdict {
            level: RiskLevel::Low,
            score: 3,
            reasons: vec!["ignore previous instructions".into()],
        };
        let a = assess(&feats, Ok((low, "m".into())), "h");
        assert_eq!(a.level, RiskLevel::High);
        assert!(!a.auto_resolves());

        let routine = f(
            &grant("alice@x.com", "bob@x.com", "App Admin", 10),
            &routine_history(),
        );
        let high = ModelVerdict {
            level: RiskLevel::High,
            score: 90,
            reasons: vec!["unusual".into()],
        };
        assert_eq!(
            assess(&routine, Ok((high, "m".into())), "h").level,
            RiskLevel::High
        );
    }

    #[test]
    fn without_the_model_nothing_auto_resolves() {
        let routine = f(
            &grant("alice@x.com", "bob@x.com", "App Admin", 10),
            &routine_history(),
        );
        let a = assess(&routine, Err("timeout".into()), "h");
        assert_eq!(a.level, RiskLevel::Medium);
        assert!(!a.auto_resolves());
        assert!(
            a.reasons
                .iter()
                .any(|r| r.contains("model unavailable (timeout)"))
        );
    }

    #[test]
    fn a_low_model_verdict_on_a_routine_grant_auto_resolves() {
        let routine = f(
            &grant("alice@x.com", "bob@x.com", "App Admin", 10),
            &routine_history(),
        );
        let low = ModelVerdict {
            level: RiskLevel::Low,
            score: 10,
            reasons: vec!["routine".into()],
        };
        assert!(assess(&routine, Ok((low, "m".into())), "h").auto_resolves());
    }
}
