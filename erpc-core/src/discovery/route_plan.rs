//! A routing table made ready for per-call use against one list of instances: each subset's
//! members found once, the rules that cannot match this caller (another data center or zone)
//! dropped, each weighted split turned into cumulative bounds. A call then costs a few string
//! comparisons and, for a split, one random draw — no allocation, no search of the list.
//!
//! Rebuilt by the client whenever the table or the list changes ([`super::route_follow`]).

use std::sync::Arc;

use super::route::{RouteTable, WeightedSubset, rule_name};
use super::{Endpoint, Load, Locality, Pick, Subset};
use crate::status::Status;

/// A table planned against one list (see the module docs).
pub(crate) struct RoutePlan {
    service: String,
    rules: Vec<PlannedRule>,
    /// Where unmatched calls go; `None`: the whole list.
    default: Option<Split>,
    views: Vec<View>,
}

struct PlannedRule {
    method: Option<String>,
    metadata: Vec<(String, String)>,
    split: Split,
}

/// A route: its subsets that have instances now, each with the upper end of its share of
/// `[0, total)`.
struct Split {
    /// `rule 2 ("beta")` or `the default route`, for the error when nothing is left.
    at: String,
    /// The subsets it names, for that error.
    names: String,
    /// (end of share, view), shares in the route's order, zero-weight and empty ones left out.
    shares: Vec<(u32, usize)>,
    total: u32,
}

/// The members of one subset in the list, with their endpoints and loads in the shape a
/// balancer takes ([`super::Candidates`]).
pub(crate) struct View {
    /// Each member's position in the whole list.
    pub members: Vec<usize>,
    pub endpoints: Vec<Endpoint>,
    pub loads: Vec<Arc<Load>>,
    /// The view's own list generation, so balancers cache per view.
    pub generation: u64,
}

impl RoutePlan {
    /// `table` for a caller at `here`, against `list` (with its `loads`, position by
    /// position).
    pub fn new(
        service: &str,
        table: &RouteTable,
        here: &Locality,
        list: &[Endpoint],
        loads: &[Arc<Load>],
    ) -> RoutePlan {
        let mut views: Vec<(Subset, View)> = Vec::new();
        let mut split = |at: String, route: &[WeightedSubset]| {
            let mut shares = Vec::new();
            let mut total = 0u32;
            for entry in route {
                let view = view_of(&mut views, &entry.subset, list, loads);
                if entry.weight == 0 || views[view].1.members.is_empty() {
                    continue;
                }
                // Checked when parsed: the weights of a route fit in a u32.
                total = total.saturating_add(entry.weight);
                shares.push((total, view));
            }
            let names = route
                .iter()
                .map(|w| w.subset.to_string())
                .collect::<Vec<_>>()
                .join("; ");
            Split {
                at,
                names,
                shares,
                total,
            }
        };
        let rules = table
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| {
                // The caller's place does not change: a rule for another one never matches.
                let mine =
                    |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
                mine(&rule.when.dc, &here.dc) && mine(&rule.when.zone, &here.zone)
            })
            .map(|(i, rule)| PlannedRule {
                method: rule.when.method.clone(),
                metadata: rule.when.metadata.clone().into_iter().collect(),
                split: split(rule_name(i, rule), &rule.route),
            })
            .collect();
        let default =
            (!table.default.is_empty()).then(|| split("the default route".into(), &table.default));
        RoutePlan {
            service: service.to_owned(),
            rules,
            default,
            views: views.into_iter().map(|(_, view)| view).collect(),
        }
    }

    /// Where `call` goes: a subset's view, or `None` for the whole list (no rule matched and
    /// there is no default). `unavailable`, naming the rule and its subsets, when none of the
    /// subsets its route names has an instance now.
    pub fn choose(&self, call: &Pick<'_>) -> Result<Option<&View>, Status> {
        let split = self
            .rules
            .iter()
            .find(|rule| {
                rule.method.as_deref().is_none_or(|m| m == call.method)
                    && rule
                        .metadata
                        .iter()
                        .all(|(k, v)| call.metadata.get_str(k) == Some(v.as_str()))
            })
            .map(|rule| &rule.split)
            .or(self.default.as_ref());
        let Some(split) = split else {
            return Ok(None);
        };
        let view = match split.shares.as_slice() {
            [] => {
                return Err(Status::unavailable(format!(
                    "{} of {:?}'s routing rules sends the call to {}, and no instance is in it now",
                    split.at, self.service, split.names
                )));
            }
            [(_, only)] => *only,
            shares => {
                let draw = fastrand::u32(..split.total);
                shares
                    .iter()
                    .find(|(end, _)| draw < *end)
                    .map_or(shares[shares.len() - 1].1, |(_, view)| *view)
            }
        };
        Ok(Some(&self.views[view]))
    }
}

/// The index in `views` of `subset`'s view, made if it is the first time it is named.
fn view_of(
    views: &mut Vec<(Subset, View)>,
    subset: &Subset,
    list: &[Endpoint],
    loads: &[Arc<Load>],
) -> usize {
    if let Some(i) = views.iter().position(|(s, _)| s == subset) {
        return i;
    }
    let members: Vec<usize> = (0..list.len())
        .filter(|&i| subset.matches(&list[i].instance))
        .collect();
    let view = View {
        endpoints: members.iter().map(|&i| list[i].clone()).collect(),
        loads: members.iter().map(|&i| loads[i].clone()).collect(),
        members,
        generation: super::balance::next_generation(),
    };
    views.push((subset.clone(), view));
    views.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::Instance;
    use crate::discovery::balance::testing::call;
    use crate::metadata::Metadata;

    fn list(versions: &[&str]) -> (Vec<Endpoint>, Vec<Arc<Load>>) {
        let endpoints: Vec<Endpoint> = versions
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                Instance {
                    version: (*v).into(),
                    ..Instance::new(
                        "s",
                        format!("i{i}"),
                        format!("tcp://127.0.0.1:{}", 7000 + i),
                    )
                }
                .endpoint()
            })
            .collect();
        let loads = endpoints.iter().map(|_| Arc::default()).collect();
        (endpoints, loads)
    }

    fn plan(json: &str, here: &Locality, versions: &[&str]) -> RoutePlan {
        let (endpoints, loads) = list(versions);
        let table = RouteTable::parse(json).expect("a valid table");
        RoutePlan::new("s", &table, here, &endpoints, &loads)
    }

    fn members(plan: &RoutePlan, call: &Pick<'_>) -> Option<Vec<usize>> {
        plan.choose(call)
            .expect("routes")
            .map(|view| view.members.clone())
    }

    #[test]
    fn the_first_matching_rule_decides_and_unmatched_calls_take_the_default() {
        let p = plan(
            r#"{"rules":[{"match":{"method":"m","metadata":{"tier":"beta"}},"route":[{"subset":{"version":"2"}}]},
                         {"match":{"method":"other"},"route":[{"subset":{"version":"3"}}]}],
                "default":[{"subset":{"version":"1"}}]}"#,
            &Locality::default(),
            &["1", "2", "1", "3"],
        );
        let mut beta = Metadata::new();
        beta.insert("tier", "beta");
        assert_eq!(members(&p, &call(&beta)), Some(vec![1]));
        assert_eq!(members(&p, &call(&Metadata::new())), Some(vec![0, 2]));
        let other = Pick {
            method: "other",
            ..call(&beta)
        };
        assert_eq!(members(&p, &other), Some(vec![3]));
    }

    #[test]
    fn without_a_default_unmatched_calls_go_anywhere() {
        let p = plan(
            r#"{"rules":[{"match":{"method":"x"},"route":[{"subset":{"version":"2"}}]}]}"#,
            &Locality::default(),
            &["1", "2"],
        );
        assert_eq!(members(&p, &call(&Metadata::new())), None);
    }

    #[test]
    fn rules_for_another_dc_or_zone_never_match() {
        let json = r#"{"rules":[{"match":{"dc":"eu","zone":"eu-1"},"route":[{"subset":{"version":"2"}}]}]}"#;
        let nothing = Metadata::new();
        let here = |dc: &str, zone: &str| Locality {
            dc: Some(dc.into()),
            zone: Some(zone.into()),
            ..Locality::default()
        };
        let p = plan(json, &here("eu", "eu-1"), &["1", "2"]);
        assert_eq!(members(&p, &call(&nothing)), Some(vec![1]));
        for elsewhere in [here("eu", "eu-2"), here("us", "eu-1"), Locality::default()] {
            let p = plan(json, &elsewhere, &["1", "2"]);
            assert_eq!(members(&p, &call(&nothing)), None, "{elsewhere:?}");
        }
    }

    #[test]
    fn a_split_shares_calls_by_weight_among_subsets_with_instances() {
        let p = plan(
            r#"{"default":[{"subset":{"version":"1"},"weight":3},{"subset":{"version":"2"},"weight":1},
                           {"subset":{"version":"9"},"weight":1000}]}"#,
            &Locality::default(),
            &["1", "2"],
        );
        let nothing = Metadata::new();
        let draws = 40_000;
        let to_v2 = (0..draws)
            .filter(|_| members(&p, &call(&nothing)) == Some(vec![1]))
            .count();
        // Version 9 has no instance: its share is left out, 3:1 remains. σ ≈ 87 draws.
        let share = to_v2 as f64 / draws as f64;
        assert!((0.24..0.26).contains(&share), "{share}");
    }

    #[test]
    fn a_route_with_no_instance_left_fails_naming_the_rule_and_its_subsets() {
        let p = plan(
            r#"{"rules":[{"name":"beta","route":[{"subset":{"version":"2"}}]}]}"#,
            &Locality::default(),
            &["1"],
        );
        let e = p.choose(&call(&Metadata::new())).err().expect("refused");
        assert_eq!(e.code(), crate::Code::Unavailable);
        assert!(
            e.message().contains("rule 1 (\"beta\")") && e.message().contains("version \"2\""),
            "{e}"
        );
    }
}
