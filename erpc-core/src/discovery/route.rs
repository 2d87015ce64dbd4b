//! Routing rules: which subset of a service's instances a call may go to, chosen by the
//! client before balancing — by the call's method and metadata and the caller's data center
//! and zone, with weighted splits between subsets (a canary taking 5 %). Istio's
//! `VirtualService` and Dubbo's condition routers are the models.
//!
//! A service's rules are one JSON document (a [`RouteTable`]), kept by the registry center
//! as the config entry [`routes_key`]`(service)` (`erpc/routes/<service>`, CENTER.md
//! "Routing rules"): the center checks a table when it is written, and clients follow the
//! entry live ([`crate::ClientBuilder::routes`]). This file is the document's shape and the
//! checks that need no registrations; [`super::route_plan`] evaluates it per call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Subset;

/// Where routing rules are kept in a center's config: the entry of service `S` is
/// `erpc/routes/S`.
pub const ROUTES_PREFIX: &str = "erpc/routes/";

/// The config key holding `service`'s routing rules: `erpc/routes/<service>`.
pub fn routes_key(service: &str) -> String {
    format!("{ROUTES_PREFIX}{service}")
}

/// A service's routing rules: the first rule whose `match` the call passes decides its
/// subset; a call no rule matches takes `default`, and with no default, every instance.
///
/// JSON, every field optional, unknown fields refused:
///
/// ```json
/// {
///   "rules": [
///     { "name": "beta testers",
///       "match": { "method": "greet", "metadata": { "x-user-tier": "beta" } },
///       "route": [ { "subset": { "version": "2.0" } } ] }
///   ],
///   "default": [
///     { "subset": { "version": "1.0" }, "weight": 95 },
///     { "subset": { "version": "2.0" }, "weight": 5 }
///   ]
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// Tried in order; the first that matches the call routes it. Default none.
    #[serde(default)]
    pub rules: Vec<RouteRule>,
    /// Where calls no rule matches go. Default (empty): every instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default: Vec<WeightedSubset>,
}

/// One rule: the calls it takes and where they go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// A name for messages and logs. Default none (the rule is named by its position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which calls it takes. Default: every call.
    #[serde(rename = "match", default)]
    pub when: RouteMatch,
    /// Where they go: one subset, or several sharing the calls by weight. Required, at
    /// least one entry.
    pub route: Vec<WeightedSubset>,
}

/// What a call must be for a rule to take it: every criterion given must hold; none given
/// matches every call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// The call's method name, exactly. Default: any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Request metadata the call must carry, each key with exactly this value (the first
    /// value of a repeated key). Default: none required.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The caller's data center (the client's [`super::Locality::dc`]). Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dc: Option<String>,
    /// The caller's zone (the client's [`super::Locality::zone`]). Default: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// A subset and its share of a route's calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedSubset {
    /// The instances (by group, version, tags; see [`Subset`]). Default: every instance.
    #[serde(default)]
    pub subset: Subset,
    /// Its share: calls go to each entry of a route in proportion to its weight. Default 1;
    /// 0 takes no calls; a route's weights must add up to at least 1 and at most
    /// 4,294,967,295.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

/// Why a routing table is refused: the text names the rule and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RouteError(pub String);

impl RouteTable {
    /// Parse and check a table (its JSON text). Refused, naming the problem: text that is
    /// not JSON or not this shape (an unknown field is named with the fields allowed), a
    /// rule with an empty `route`, a route whose weights add up to 0 or past 2^32 − 1, an
    /// empty method or metadata key.
    pub fn parse(text: &str) -> Result<RouteTable, RouteError> {
        // serde also reads a struct from a JSON array of its fields in order (`[]` would be
        // an empty table): every place that holds an object must hold one.
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            objects_where_documented(&value)?;
        }
        let table: RouteTable = serde_json::from_str(text)
            .map_err(|e| RouteError(format!("not a routing table: {e}")))?;
        table.check()?;
        Ok(table)
    }

    /// The checks of [`RouteTable::parse`] beyond the shape.
    pub fn check(&self) -> Result<(), RouteError> {
        for (i, rule) in self.rules.iter().enumerate() {
            let at = rule_name(i, rule);
            if rule.route.is_empty() {
                return Err(RouteError(format!("{at}: \"route\" is empty")));
            }
            check_weights(&at, &rule.route)?;
            if rule.when.method.as_deref() == Some("") {
                return Err(RouteError(format!(
                    "{at}: \"match\".\"method\" is empty (leave it out to match every method)"
                )));
            }
            if rule.when.metadata.contains_key("") {
                return Err(RouteError(format!(
                    "{at}: \"match\".\"metadata\" has an empty key"
                )));
            }
        }
        if !self.default.is_empty() {
            check_weights("\"default\"", &self.default)?;
        }
        Ok(())
    }

    /// Every subset the table names, with where: `rule 2 ("beta"), route entry 1` or
    /// `"default", entry 1` (counting from 1), for messages.
    pub fn subsets(&self) -> impl Iterator<Item = (String, &Subset)> + '_ {
        let rules = self.rules.iter().enumerate().flat_map(|(i, rule)| {
            let at = rule_name(i, rule);
            rule.route
                .iter()
                .enumerate()
                .map(move |(j, w)| (format!("{at}, route entry {}", j + 1), &w.subset))
        });
        let default = self
            .default
            .iter()
            .enumerate()
            .map(|(j, w)| (format!("\"default\", entry {}", j + 1), &w.subset));
        rules.chain(default)
    }

    /// The table as the JSON document it was written as (fields at their defaults left out).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `rule 2 ("beta")`, counting from 1, for messages.
pub(crate) fn rule_name(i: usize, rule: &RouteRule) -> String {
    match &rule.name {
        Some(name) => format!("rule {} ({name:?})", i + 1),
        None => format!("rule {}", i + 1),
    }
}

fn check_weights(at: &str, route: &[WeightedSubset]) -> Result<(), RouteError> {
    let total: u64 = route.iter().map(|w| u64::from(w.weight)).sum();
    if total == 0 {
        return Err(RouteError(format!(
            "{at}: the weights add up to 0: no subset would take a call"
        )));
    }
    if total > u64::from(u32::MAX) {
        return Err(RouteError(format!(
            "{at}: the weights add up to {total}, past 4294967295"
        )));
    }
    Ok(())
}

/// Refuse an array where the table's shape has an object: the table itself, each rule, its
/// `match`, each route entry and its `subset`.
fn objects_where_documented(table: &serde_json::Value) -> Result<(), RouteError> {
    use serde_json::Value;
    let object = |value: &Value, what: &str| match value {
        Value::Object(_) => Ok(()),
        other => Err(RouteError(format!(
            "not a routing table: {what} must be a JSON object, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                Value::Null => "null",
                Value::Object(_) => "an object",
            }
        ))),
    };
    object(table, "the table")?;
    let entries = |route: Option<&Value>, at: &str| -> Result<(), RouteError> {
        for (j, entry) in route
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let here = format!("{at}, route entry {}", j + 1);
            object(entry, &here)?;
            if let Some(subset) = entry.get("subset") {
                object(subset, &format!("{here}, \"subset\""))?;
            }
        }
        Ok(())
    };
    for (i, rule) in table
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("rule {}", i + 1);
        object(rule, &at)?;
        if let Some(when) = rule.get("match") {
            object(when, &format!("{at}, \"match\""))?;
        }
        entries(rule.get("route"), &at)?;
    }
    entries(table.get("default"), "\"default\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_are_not_tables_rules_or_entries() {
        let refused = |text: &str, says: &str| {
            let e = RouteTable::parse(text).expect_err(text);
            assert!(e.0.contains(says), "{text}: {e}");
        };
        refused("[]", "the table must be a JSON object, not an array");
        refused(
            r#"[[{"route":[{"subset":{"version":"2.0"}}]}],[]]"#,
            "the table must be a JSON object",
        );
        refused(
            r#"{"rules":[[[{"subset":{}}]]]}"#,
            "rule 1 must be a JSON object",
        );
        refused(
            r#"{"rules":[{"match":[],"route":[{}]}]}"#,
            "rule 1, \"match\" must be a JSON object",
        );
        refused(
            r#"{"default":[[{"version":"1"}, 1]]}"#,
            "\"default\", route entry 1 must be a JSON object",
        );
        refused(
            r#"{"default":[{"subset":["g"]}]}"#,
            "\"subset\" must be a JSON object",
        );
        refused("3", "not a number");
    }

    #[test]
    fn the_documented_example_parses_with_its_defaults() {
        let table = RouteTable::parse(
            r#"{"rules":[{"name":"beta testers","match":{"method":"greet","metadata":{"x-user-tier":"beta"}},
                "route":[{"subset":{"version":"2.0"}}]}],
               "default":[{"subset":{"version":"1.0"},"weight":95},{"subset":{"version":"2.0"},"weight":5}]}"#,
        )
        .expect("parses");
        assert_eq!(table.rules[0].route[0].weight, 1, "weight defaults to 1");
        assert_eq!(table.rules[0].when.method.as_deref(), Some("greet"));
        assert_eq!(table.default[1].subset, Subset::default().version("2.0"));
        assert_eq!(RouteTable::parse(&table.to_json()), Ok(table));
        assert_eq!(RouteTable::parse("{}"), Ok(RouteTable::default()));
    }

    #[test]
    fn a_table_that_cannot_be_applied_is_refused_naming_the_problem() {
        let refused = |text: &str, says: &str| {
            let e = RouteTable::parse(text).expect_err(text);
            assert!(e.0.contains(says), "{text}: {e}");
        };
        refused(
            r#"{"rules":[{"route":[{}],"when":{}}]}"#,
            "unknown field `when`",
        );
        refused(
            r#"{"rules":[{"route":[{"subset":{"zone":"a"}}]}]}"#,
            "unknown field `zone`",
        );
        refused(
            r#"{"rules":[{"name":"x","route":[]}]}"#,
            "rule 1 (\"x\"): \"route\" is empty",
        );
        refused(
            r#"{"rules":[{"route":[{"weight":0}]}]}"#,
            "rule 1: the weights add up to 0",
        );
        refused(
            r#"{"default":[{"weight":4294967295},{"weight":1}]}"#,
            "past 4294967295",
        );
        refused(
            r#"{"rules":[{"match":{"method":""},"route":[{}]}]}"#,
            "\"method\" is empty",
        );
        refused(
            r#"{"rules":[{"match":{"metadata":{"":"v"}},"route":[{}]}]}"#,
            "empty key",
        );
        refused(
            r#"{"rules":[{"route":[{"weight":-1}]}]}"#,
            "not a routing table",
        );
        refused("[", "not a routing table");
    }
}
