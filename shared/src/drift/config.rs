//! Settings of the OAuth grant drift audit, read from the environment.

use crate::config::{ConfigError, Env, LlmSettings};

/// Settings of the OAuth grant drift audit.
#[derive(Debug, Clone)]
pub struct DriftSettings {
    pub linear_api_url: String,
    /// Required to file for real; a dry run does without.
    pub linear_team_id: Option<String>,
    pub linear_project_id: Option<String>,
    /// Without a model (or without a key) drafts come from the template.
    pub llm: LlmSettings,
    pub group_threshold: usize,
    pub max_revoked_percent: u8,
    /// Refuse to run on an inventory not refreshed for this long; `None` (0) disables it.
    pub max_inventory_age_hours: Option<u32>,
    pub max_filings_per_run: usize,
}

impl DriftSettings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        Ok(Self {
            linear_api_url: env.text_or("LINEAR_API_URL", "https://api.linear.app/graphql"),
            linear_team_id: env.text("LINEAR_TEAM_ID"),
            linear_project_id: env.text("LINEAR_PROJECT_ID"),
            llm: LlmSettings::from_env(env)?,
            group_threshold: env.bounded("DRIFT_GROUP_THRESHOLD", 10, 1..=100_000)? as usize,
            max_revoked_percent: env.bounded("DRIFT_MAX_REVOKED_PERCENT", 50, 1..=100)? as u8,
            max_inventory_age_hours: match env.bounded(
                "DRIFT_MAX_INVENTORY_AGE_HOURS",
                36,
                0..=24 * 365,
            )? {
                0 => None,
                hours => Some(hours as u32),
            },
            max_filings_per_run: env.bounded("DRIFT_MAX_FILINGS_PER_RUN", 200, 1..=10_000)?
                as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = DriftSettings::from_env(&Env::from_pairs(&[])).unwrap();
        assert_eq!(s.group_threshold, 10);
        assert_eq!(s.max_filings_per_run, 200);
        assert_eq!(s.llm.model, None);
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let err = DriftSettings::from_env(&Env::from_pairs(&[("DRIFT_GROUP_THRESHOLD", "ten")]))
            .unwrap_err();
        assert_eq!(err.name, "DRIFT_GROUP_THRESHOLD");
        assert!(err.to_string().contains("\"ten\""));
    }

    #[test]
    fn an_out_of_range_value_is_refused() {
        let err = DriftSettings::from_env(&Env::from_pairs(&[("DRIFT_MAX_REVOKED_PERCENT", "0")]))
            .unwrap_err();
        assert_eq!(err.name, "DRIFT_MAX_REVOKED_PERCENT");
    }
}
