//! Lateness buckets: how overdue a consumer is decides the tone of its nudge and who is
//! mentioned. Days are counted in the team's working timezone, by calendar date.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How late, from gentle to critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Gentle,
    Firm,
    Urgent,
    Critical,
}

impl Bucket {
    pub const ALL: [Bucket; 4] = [
        Bucket::Gentle,
        Bucket::Firm,
        Bucket::Urgent,
        Bucket::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Gentle => "gentle",
            Bucket::Firm => "firm",
            Bucket::Urgent => "urgent",
            Bucket::Critical => "critical",
        }
    }

    /// Urgent and critical nudges mention the team lead.
    pub fn mentions_team_lead(self) -> bool {
        self >= Bucket::Urgent
    }

    /// Critical nudges mention the security lead too.
    pub fn mentions_security_lead(self) -> bool {
        self == Bucket::Critical
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first overdue day of firm, urgent and critical (gentle starts at day 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub firm_from: u32,
    pub urgent_from: u32,
    pub critical_from: u32,
}

impl Default for Thresholds {
    /// 1–3 gentle, 4–7 firm, 8–14 urgent, 15+ critical.
    fn default() -> Self {
        Self {
            firm_from: 4,
            urgent_from: 8,
            critical_from: 15,
        }
    }
}

impl FromStr for Thresholds {
    type Err = String;

    /// `4,8,15`: the first day of firm, urgent and critical, increasing, all above 1.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let days: Vec<u32> = s
            .split(',')
            .map(|d| d.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{s:?} is not three day numbers such as 4,8,15"))?;
        match days.as_slice() {
            [firm, urgent, critical] if 1 < *firm && firm < urgent && urgent < critical => {
                Ok(Self {
                    firm_from: *firm,
                    urgent_from: *urgent,
                    critical_from: *critical,
                })
            }
            _ => Err(format!(
                "{s:?}: expected three increasing day numbers above 1, such as 4,8,15"
            )),
        }
    }
}

impl Thresholds {
    /// The bucket for a number of days overdue; `None` when not overdue (0 or fewer).
    pub fn bucket(&self, days_overdue: i64) -> Option<Bucket> {
        match days_overdue {
            d if d < 1 => None,
            d if d < i64::from(self.firm_from) => Some(Bucket::Gentle),
            d if d < i64::from(self.urgent_from) => Some(Bucket::Firm),
            d if d < i64::from(self.critical_from) => Some(Bucket::Urgent),
            _ => Some(Bucket::Critical),
        }
    }
}

/// Calendar days between the deadline and `now`'s date in `tz`: 0 on the deadline day itself,
/// 1 the day after.
pub fn days_overdue(deadline: NaiveDate, now: DateTime<Utc>, tz: Tz) -> i64 {
    (now.with_timezone(&tz).date_naive() - deadline).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_default_boundaries_fall_where_the_issue_says() {
        let t = Thresholds::default();
        let cases = [
            (-2, None),
            (0, None),
            (1, Some(Bucket::Gentle)),
            (3, Some(Bucket::Gentle)),
            (4, Some(Bucket::Firm)),
            (7, Some(Bucket::Firm)),
            (8, Some(Bucket::Urgent)),
            (14, Some(Bucket::Urgent)),
            (15, Some(Bucket::Critical)),
            (400, Some(Bucket::Critical)),
        ];
        for (days, expected) in cases {
            assert_eq!(t.bucket(days), expected, "{days} days");
        }
    }

    #[test]
    fn the_deadline_day_itself_is_not_late_and_the_next_day_is() {
        let deadline = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let same_day = Utc.with_ymd_and_hms(2026, 11, 20, 23, 0, 0).unwrap();
        assert_eq!(days_overdue(deadline, same_day, Tz::UTC), 0);
        let next = Utc.with_ymd_and_hms(2026, 11, 21, 0, 30, 0).unwrap();
        assert_eq!(days_overdue(deadline, next, Tz::UTC), 1);
    }

    #[test]
    fn days_are_counted_in_the_configured_timezone() {
        let deadline = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        // 23:30 UTC on the 20th is already the 21st in Tokyo and still the 20th in New York.
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 23, 30, 0).unwrap();
        assert_eq!(days_overdue(deadline, now, chrono_tz::Asia::Tokyo), 1);
        assert_eq!(days_overdue(deadline, now, chrono_tz::America::New_York), 0);
    }

    #[test]
    fn thresholds_parse_and_refuse_nonsense() {
        assert_eq!("3, 6, 10".parse::<Thresholds>().unwrap().urgent_from, 6);
        for bad in ["4,8", "8,4,15", "1,8,15", "a,b,c", "4,8,8"] {
            assert!(bad.parse::<Thresholds>().is_err(), "{bad}");
        }
    }
}
