//! Telemetry: CloudWatch Embedded Metric Format lines and the one summary line per run.
//! EMF goes straight to stdout with `println!`: a JSON log formatter would wrap it and
//! CloudWatch would no longer extract the metrics.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// One metric value.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub value: f64,
    pub unit: &'static str,
}

impl Metric {
    pub fn count(name: &'static str, value: u64) -> Metric {
        Metric {
            name,
            value: value as f64,
            unit: "Count",
        }
    }

    pub fn millis(name: &'static str, value: u128) -> Metric {
        Metric {
            name,
            value: value as f64,
            unit: "Milliseconds",
        }
    }
}

/// Where metric lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsSink {
    /// EMF on stdout (Lambda).
    Stdout,
    /// Not emitted (local runs, where stdout is for people).
    Off,
}

/// Build one EMF object with the dimension `Workflow`, plus properties (searchable, not metrics).
pub fn emf_line(
    namespace: &str,
    workflow: &str,
    metrics: &[Metric],
    properties: &[(&str, Value)],
) -> Value {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".to_owned(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Workflow"]],
                "Metrics": definitions,
            }]
        }),
    );
    root.insert("Workflow".to_owned(), Value::from(workflow));
    for m in metrics {
        root.insert(m.name.to_owned(), json!(m.value));
    }
    for (k, v) in properties {
        root.insert((*k).to_owned(), v.clone());
    }
    Value::Object(root)
}

/// Emit an EMF line to the sink.
pub fn emit(sink: MetricsSink, line: &Value) {
    if sink == MetricsSink::Stdout {
        println!("{line}");
    }
}

/// Test support: `line` is an EMF line for `workflow` declaring each of the six categories every
/// workflow reports (runs, items flagged, side effects made, failures, pending, duration), given
/// by the metric name that stands for it; the duration is in milliseconds.
#[cfg(test)]
pub(crate) fn assert_six_categories(line: &Value, workflow: &str, categories: [&str; 6]) {
    assert_eq!(line["Workflow"], workflow);
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Dimensions"], json!([["Workflow"]]));
    let declared: Vec<&str> = directive["Metrics"]
        .as_array()
        .expect("a metric list")
        .iter()
        .filter_map(|m| m["Name"].as_str())
        .collect();
    for name in categories {
        assert!(declared.contains(&name), "{name} missing from {declared:?}");
        assert!(line[name].is_number(), "{name} has no value in {line}");
    }
    let duration = directive["Metrics"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["Name"] == categories[5]))
        .expect("the duration metric");
    assert_eq!(duration["Unit"], "Milliseconds");
    assert_eq!(line[categories[0]], 1.0, "one run per line");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_and_dimension_is_a_root_member() {
        let line = emf_line(
            "SecOps/Workflows",
            "oauth-drift",
            &[
                Metric::count("IssuesFiled", 3),
                Metric::millis("Duration", 42),
            ],
            &[("run_id", json!("r1"))],
        );
        assert_eq!(line["Workflow"], "oauth-drift");
        assert_eq!(line["IssuesFiled"], 3.0);
        assert_eq!(line["Duration"], 42.0);
        assert_eq!(line["run_id"], "r1");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"][0][0], "Workflow");
        assert_eq!(directive["Metrics"][1]["Unit"], "Milliseconds");
        assert!(line["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    }
}
