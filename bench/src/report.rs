//! The results: a table for people, then one JSON line for machines.

use serde_json::{Map, Value};

/// Every figure of a run by key, in the order measured.
#[derive(Default)]
pub struct Figures(Map<String, Value>);

impl Figures {
    pub fn set(&mut self, key: &str, value: f64) {
        // Two decimals is below the noise of every figure here.
        let rounded = (value * 100.0).round() / 100.0;
        let value = serde_json::Number::from_f64(rounded).map_or(Value::Null, Value::Number);
        self.0.insert(key.to_owned(), value);
    }

    pub fn set_count(&mut self, key: &str, value: usize) {
        self.0.insert(key.to_owned(), Value::from(value));
    }

    pub fn set_text(&mut self, key: &str, value: &str) {
        self.0
            .insert(key.to_owned(), Value::String(value.to_owned()));
    }

    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.get(key).and_then(Value::as_f64)
    }

    /// Every figure as one JSON object on one line.
    pub fn json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

/// How a column of [`table`] lines up.
#[derive(Clone, Copy)]
pub enum Align {
    Left,
    Right,
}

/// A plain-text table, each column as wide as its widest cell; the last
/// column is not padded.
pub fn table(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, (title, _))| {
            rows.iter()
                .filter_map(|row| row.get(i))
                .map(String::len)
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let last = header.len().saturating_sub(1);
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            let (width, align) = (widths[i], header[i].1);
            if i > 0 {
                out.push_str(" | ");
            }
            match align {
                _ if i == last => out.push_str(cell),
                Align::Left => out.push_str(&format!("{cell:<width$}")),
                Align::Right => out.push_str(&format!("{cell:>width$}")),
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&mut header.iter().map(|(title, _)| *title));
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    out.push_str(&line(&mut rule.iter().map(String::as_str)).replace(" | ", "-+-"));
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// A goal from the project's issue.
enum Goal {
    AtMost(f64),
    /// At least the value of another figure (the peer's).
    AtLeastKey(&'static str),
}

struct Target {
    key: &'static str,
    goal: Goal,
}

const TARGETS: &[Target] = &[
    Target {
        key: "idle_rss_mib",
        goal: Goal::AtMost(30.0),
    },
    Target {
        key: "ready_ms",
        goal: Goal::AtMost(300.0),
    },
    Target {
        key: "create_p99_ms_1",
        goal: Goal::AtMost(5.0),
    },
    Target {
        key: "creates_per_s_32",
        goal: Goal::AtLeastKey("etcd_puts_per_s_32"),
    },
];

impl Target {
    fn describe(&self) -> String {
        match self.goal {
            Goal::AtMost(v) => format!("<= {v}"),
            Goal::AtLeastKey(_) => ">= etcd".to_owned(),
        }
    }

    /// `None` when a figure is missing (e.g. no etcd peer).
    fn met(&self, figures: &Figures) -> Option<bool> {
        let value = figures.get(self.key)?;
        match self.goal {
            Goal::AtMost(limit) => Some(value <= limit),
            Goal::AtLeastKey(other) => Some(value >= figures.get(other)?),
        }
    }
}

/// Table rows: label, skiff key, etcd key.
fn rows(clients: usize, objects: usize) -> Vec<(String, String, String)> {
    let n = if objects.is_multiple_of(1000) {
        format!("{}k", objects / 1000)
    } else {
        objects.to_string()
    };
    let mut rows = vec![
        (
            "cold start to ready (ms, median)".to_owned(),
            "ready_ms".to_owned(),
            "etcd_ready_ms".to_owned(),
        ),
        (
            "RSS idle (MiB)".to_owned(),
            "idle_rss_mib".to_owned(),
            "etcd_idle_rss_mib".to_owned(),
        ),
        (
            format!("RSS with {n} objects (MiB)"),
            "rss_10k_mib".to_owned(),
            "etcd_rss_10k_mib".to_owned(),
        ),
    ];
    for (label, skiff, etcd) in [
        ("create / put", "create", "put"),
        ("get / range one", "get", "get"),
        ("update / txn CAS", "update", "update"),
    ] {
        for c in [1, clients] {
            rows.push((
                format!("{label} x{c} (ops/s)"),
                format!("{skiff}s_per_s_{c}"),
                format!("etcd_{etcd}s_per_s_{c}"),
            ));
            for q in ["p50", "p99"] {
                rows.push((
                    format!("{label} x{c} {q} (ms)"),
                    format!("{skiff}_{q}_ms_{c}"),
                    format!("etcd_{etcd}_{q}_ms_{c}"),
                ));
            }
        }
    }
    rows.push((
        format!("list {n} (ms, median)"),
        "list_10k_ms".to_owned(),
        "etcd_range_10k_ms".to_owned(),
    ));
    rows.push((
        format!("list {n} (ms, max)"),
        "list_10k_max_ms".to_owned(),
        "etcd_range_10k_max_ms".to_owned(),
    ));
    for (writers, suffix) in [(1, "_1"), (clients, "")] {
        rows.push((
            format!("watch, writers x{writers} (events/s)"),
            format!("watch_events_per_s{suffix}"),
            format!("etcd_watch_events_per_s{suffix}"),
        ));
        for q in ["p50", "p99"] {
            rows.push((
                format!("watch, writers x{writers}, create->event {q} (ms)"),
                format!("watch_{q}_ms{suffix}"),
                format!("etcd_watch_{q}_ms{suffix}"),
            ));
        }
    }
    rows
}

/// A figure as the tables show it: "-" when missing.
pub fn cell(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// Adds the verdicts on the targets and renders the table and the JSON line.
pub fn render(figures: &mut Figures, clients: usize, objects: usize) -> (String, String) {
    let mut missed = Vec::new();
    let mut all_known = true;
    for target in TARGETS {
        match target.met(figures) {
            Some(false) => missed.push(Value::String(target.key.to_owned())),
            Some(true) => {}
            None => all_known = false,
        }
    }
    let met = if all_known {
        Value::Bool(missed.is_empty())
    } else {
        Value::Null
    };
    figures.0.insert("targets_met".to_owned(), met);
    figures
        .0
        .insert("targets_missed".to_owned(), Value::Array(missed));

    let rows: Vec<Vec<String>> = rows(clients, objects)
        .into_iter()
        .map(|(label, skiff, etcd)| {
            let target = TARGETS.iter().find(|t| t.key == skiff);
            let met = match target.map(|t| t.met(figures)) {
                Some(Some(true)) => "yes",
                Some(Some(false)) => "NO",
                Some(None) => "?",
                None => "",
            };
            vec![
                label,
                cell(figures.get(&skiff)),
                cell(figures.get(&etcd)),
                target.map(Target::describe).unwrap_or_default(),
                met.to_owned(),
            ]
        })
        .collect();
    let table = table(
        &[
            ("metric", Align::Left),
            ("skiff", Align::Right),
            ("etcd", Align::Right),
            ("target", Align::Left),
            ("met", Align::Left),
        ],
        &rows,
    );
    let json = figures.json();
    (table, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_compare_with_limits_and_the_peer() {
        let mut f = Figures::default();
        f.set("idle_rss_mib", 12.0);
        f.set("ready_ms", 350.0);
        f.set("create_p99_ms_1", 1.5);
        f.set("creates_per_s_32", 900.0);
        f.set("etcd_puts_per_s_32", 1000.0);
        let (table, json) = render(&mut f, 32, 10_000);
        let v: Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["targets_met"], Value::Bool(false));
        assert_eq!(
            v["targets_missed"],
            serde_json::json!(["ready_ms", "creates_per_s_32"])
        );
        assert!(table.contains("NO"));
    }

    #[test]
    fn table_aligns_columns_to_the_widest_cell() {
        let t = table(
            &[
                ("metric", Align::Left),
                ("ms", Align::Right),
                ("x", Align::Left),
            ],
            &[
                vec!["a".to_owned(), "1.50".to_owned(), "yes".to_owned()],
                vec!["longer".to_owned(), "12".to_owned(), String::new()],
            ],
        );
        assert_eq!(
            t,
            "metric |   ms | x\n-------+------+----\na      | 1.50 | yes\nlonger |   12 | \n"
        );
    }

    #[test]
    fn unknown_peer_leaves_the_verdict_open() {
        let mut f = Figures::default();
        f.set("creates_per_s_32", 900.0);
        let (_, json) = render(&mut f, 32, 10_000);
        let v: Value = serde_json::from_str(&json).expect("valid JSON");
        assert_eq!(v["targets_met"], Value::Null);
    }
}
