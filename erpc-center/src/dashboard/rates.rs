//! `/api/rates`: the center's own calls (registrations, renewals, discoveries, watches…) as
//! counters, read from its Prometheus metrics when it has them. The page turns successive
//! readings into calls per second. The calls registered services make among themselves never
//! pass through the center, so it has no rates of theirs to show; without metrics the answer
//! says so, with no numbers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{ApiRequest, Shared, json};

/// The center's metrics in Prometheus text form (erpc-telemetry's `Metrics::encode`, or
/// `encode_text`: either format reads the same here).
pub type MetricsText = Arc<dyn Fn() -> String + Send + Sync>;

/// The counters of one method of the center's server.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub(super) struct MethodCalls {
    service: String,
    method: String,
    /// Calls finished since the center started.
    handled: f64,
    /// Of them, those that failed: not `ok` and not `cancelled`. A caller that went away
    /// (a client closing its own watch, a timed-out caller) is no server error, and every
    /// `erpc call --center` ends its watch that way.
    errors: f64,
    /// Started and not finished (open watches among them).
    in_flight: f64,
}

/// `GET /api/rates`: `{"available": true, "calls": [MethodCalls…]}`, or `{"available":
/// false, "reason": …}`; read as the center's `discover` is.
pub(super) async fn rates(State(shared): State<Shared>, request: ApiRequest) -> Response {
    if let Err(refused) = request.admit(&shared, "discover", &[]) {
        return refused.into_response();
    }
    match &shared.metrics {
        Some(text) => json(&serde_json::json!({
            "available": true,
            "calls": calls(&text()),
        })),
        None => json(&serde_json::json!({
            "available": false,
            "reason": "this center has no metrics: start it with --metrics-listen ADDR to see the rates of its own calls",
        })),
    }
}

/// The server side's `erpc_calls_handled_total` and `erpc_calls_in_flight` series in
/// `text`, by service and method.
pub(super) fn calls(text: &str) -> Vec<MethodCalls> {
    let mut by_method: BTreeMap<(String, String), MethodCalls> = BTreeMap::new();
    for line in text.lines() {
        let Some((name, labels, value)) = sample(line) else {
            continue;
        };
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        if label("side") != Some("server") {
            continue;
        }
        let (Some(service), Some(method)) = (label("service"), label("method")) else {
            continue;
        };
        let entry = by_method
            .entry((service.to_owned(), method.to_owned()))
            .or_insert_with(|| MethodCalls {
                service: service.to_owned(),
                method: method.to_owned(),
                ..MethodCalls::default()
            });
        match name {
            "erpc_calls_handled_total" => {
                entry.handled += value;
                if !matches!(label("code"), Some("ok" | "cancelled")) {
                    entry.errors += value;
                }
            }
            "erpc_calls_in_flight" => entry.in_flight += value,
            _ => {}
        }
    }
    by_method.into_values().collect()
}

/// A sample: its metric's name, its labels, its value.
type Sample<'a> = (&'a str, Vec<(String, String)>, f64);

/// One sample line `name{k="v",…} value [timestamp]`: its name, labels (unescaped) and
/// value; `None` for comments, other shapes and values that are not numbers.
fn sample(line: &str) -> Option<Sample<'_>> {
    let (name, mut rest) = line.split_once('{')?;
    let mut labels = Vec::new();
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            rest = after;
            break;
        }
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let close = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        rest = &after[close + 1..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((name, labels, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_per_method_from_the_server_side_only_and_cancelled_is_no_error() {
        let text = r#"# HELP erpc_calls_handled Calls finished, by status code
# TYPE erpc_calls_handled counter
erpc_calls_handled_total{side="server",service="erpc.Center",method="register",code="ok"} 2
erpc_calls_handled_total{side="server",service="erpc.Center",method="register",code="invalid_argument"} 1
erpc_calls_handled_total{side="server",service="erpc.Center",method="watch",code="cancelled"} 5
erpc_calls_handled_total{side="server",service="erpc.Center",method="watch",code="unavailable"} 1
erpc_calls_handled_total{side="client",service="erpc.Center",method="register",code="ok"} 40
erpc_calls_handled_total{side="server",service="odd \"name\"",method="m",code="ok"} 1.0
erpc_calls_in_flight{side="server",service="erpc.Center",method="watch"} 3
erpc_call_duration_seconds_bucket{side="server",service="erpc.Center",method="register",le="0.1"} 3
# EOF"#;
        let calls = calls(text);
        let find = |service: &str, method: &str| {
            calls
                .iter()
                .find(|c| c.service == service && c.method == method)
                .cloned()
        };
        let register = find("erpc.Center", "register").expect("register");
        assert_eq!((register.handled, register.errors), (3.0, 1.0));
        let watch = find("erpc.Center", "watch").expect("watch");
        assert_eq!(
            (watch.handled, watch.errors, watch.in_flight),
            (6.0, 1.0, 3.0)
        );
        assert_eq!(find("odd \"name\"", "m").expect("escaped").handled, 1.0);
        assert_eq!(calls.len(), 3);
    }
}
