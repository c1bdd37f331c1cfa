//! The scheduled sweep's input. The schedule sends `{"workflow":"rotation-chaser"}`; an operator
//! replaying a missed day adds `"as_of":"YYYY-MM-DD"`, and the sweep then counts days overdue,
//! chooses tones and sends the digest as of that day. Only the recent past can be replayed: a
//! digest about last month would report today's facts under an old date.

use chrono::NaiveDate;
use serde_json::Value;

use super::WORKFLOW;

/// How far back a day can be replayed (a long weekend plus a few days to notice).
pub const MAX_REPLAY_DAYS: i64 = 7;

/// Keys the input may carry.
/// `dry_run` is read by the function before the sweep (`invocation::asks_for_dry_run`).
const KEYS: [&str; 3] = ["workflow", "as_of", "dry_run"];

/// What the invocation asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepInput {
    /// The day to sweep as of; `None` is today.
    pub as_of: Option<NaiveDate>,
}

/// Why an input was refused; one line, and nothing was done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input refused, nothing done: {0}")]
pub struct InputError(String);

/// At most this much of a refused value is quoted back.
const QUOTED_CHARS: usize = 40;

fn quoted(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= QUOTED_CHARS {
        return text;
    }
    let cut: String = text.chars().take(QUOTED_CHARS).collect();
    format!("{cut}…")
}

impl SweepInput {
    /// Read the invocation's input; `today` is the local date in the chaser's timezone.
    pub fn parse(input: &Value, today: NaiveDate) -> Result<Self, InputError> {
        let fields = match input {
            Value::Null => return Ok(Self::default()),
            Value::Object(fields) => fields,
            other => {
                return Err(InputError(format!(
                    "expected a JSON object such as {{\"workflow\":\"{WORKFLOW}\",\"as_of\":\"2026-11-27\"}}, got {}",
                    quoted(other)
                )));
            }
        };
        if let Some(unknown) = fields.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(InputError(format!(
                "unknown key {} (accepted: workflow, as_of, dry_run)",
                quoted(&Value::from(unknown.as_str()))
            )));
        }
        match fields.get("workflow") {
            None | Some(Value::Null) => {}
            Some(Value::String(w)) if w == WORKFLOW => {}
            Some(other) => {
                return Err(InputError(format!(
                    "workflow is {}, not \"{WORKFLOW}\": this input belongs to another function",
                    quoted(other)
                )));
            }
        }
        let as_of = match fields.get("as_of") {
            None | Some(Value::Null) => None,
            Some(Value::String(day)) => Some(
                NaiveDate::parse_from_str(day, "%Y-%m-%d")
                    .ok()
                    .filter(|_| day.len() == 10)
                    .ok_or_else(|| {
                        InputError(format!(
                            "as_of {} is not a date as YYYY-MM-DD",
                            quoted(&Value::from(day.as_str()))
                        ))
                    })?,
            ),
            Some(other) => {
                return Err(InputError(format!(
                    "as_of {} is not a date as YYYY-MM-DD",
                    quoted(other)
                )));
            }
        };
        check_as_of(as_of, today)?;
        Ok(Self { as_of })
    }
}

/// A replayed day must be today or one of the [`MAX_REPLAY_DAYS`] before it.
pub fn check_as_of(as_of: Option<NaiveDate>, today: NaiveDate) -> Result<(), InputError> {
    let Some(day) = as_of else {
        return Ok(());
    };
    if day > today {
        return Err(InputError(format!(
            "as_of {day} is in the future (today is {today} in the chaser's timezone)"
        )));
    }
    let back = (today - day).num_days();
    if back > MAX_REPLAY_DAYS {
        return Err(InputError(format!(
            "as_of {day} is {back} days back; only the last {MAX_REPLAY_DAYS} days can be replayed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
    }

    #[test]
    fn the_schedules_input_and_an_empty_one_sweep_today() {
        for input in [
            json!({"workflow": "rotation-chaser"}),
            json!({}),
            Value::Null,
            json!({"workflow": "rotation-chaser", "as_of": null}),
        ] {
            assert_eq!(
                SweepInput::parse(&input, day(28)),
                Ok(SweepInput::default()),
                "{input}"
            );
        }
    }

    #[test]
    fn a_recent_day_can_be_replayed() {
        let input = json!({"workflow": "rotation-chaser", "as_of": "2026-11-27"});
        assert_eq!(
            SweepInput::parse(&input, day(28)).unwrap().as_of,
            Some(day(27))
        );
        // Today itself, and exactly seven days back, are accepted.
        assert!(SweepInput::parse(&json!({"as_of": "2026-11-28"}), day(28)).is_ok());
        assert!(SweepInput::parse(&json!({"as_of": "2026-11-21"}), day(28)).is_ok());
    }

    #[test]
    fn bad_inputs_are_refused_in_one_line_naming_the_problem() {
        let cases = [
            (json!({"as_of": "2026-11-29"}), "is in the future"),
            (json!({"as_of": "2026-11-20"}), "8 days back"),
            (json!({"as_of": "27/11/2026"}), "not a date as YYYY-MM-DD"),
            (json!({"as_of": "2026-11-7"}), "not a date as YYYY-MM-DD"),
            (json!({"as_of": 20261127}), "not a date as YYYY-MM-DD"),
            (json!({"asof": "2026-11-27"}), "unknown key \"asof\""),
            (
                json!({"workflow": "oauth-drift"}),
                "belongs to another function",
            ),
            (json!(["as_of"]), "expected a JSON object"),
        ];
        for (input, expected) in cases {
            let error = SweepInput::parse(&input, day(28)).unwrap_err().to_string();
            assert!(error.contains(expected), "{input}: {error}");
            assert!(
                error.starts_with("input refused, nothing done: "),
                "{error}"
            );
            assert!(!error.contains('\n'), "{error}");
        }
    }

    #[test]
    fn a_refused_value_is_quoted_briefly() {
        let huge = "9".repeat(10_000);
        let error = SweepInput::parse(&json!({ "as_of": huge }), day(28))
            .unwrap_err()
            .to_string();
        assert!(error.len() < 200, "{error}");
    }
}
