//! Which of a discovered service's instances a client uses: a subset by group, version and
//! tags (Envoy's "subset load balancing"; Kitex and rpcx filter by group and version alike).

use super::Instance;

/// A client's subset of a service's instances: those registered with this group, this
/// version and every one of these tags. Each criterion left empty matches everything; the
/// default matches every instance.
///
/// ```
/// # use erpc_core as erpc;
/// use erpc::discovery::Subset;
/// let canary = Subset::default().group("canary").version("2.1").tag("eu");
/// ```
///
/// In routing rules ([`super::RouteTable`]) it is a JSON object of these three fields, each
/// optional (`{"group": "canary", "version": "2.1", "tags": ["eu"]}`); others are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Subset {
    /// The group instances must have registered (`Instance::group`); `None`: any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The version instances must run (`Instance::version`); `None`: any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Tags instances must all carry (`Instance::tags`); empty: none required.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Subset {
    /// Only instances of `group`.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.group = Some(group.into());
        self
    }

    /// Only instances running `version`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Only instances tagged `tag` (and every other tag asked for).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Whether it asks for nothing (every instance matches).
    pub fn is_all(&self) -> bool {
        self.group.is_none() && self.version.is_none() && self.tags.is_empty()
    }

    /// Whether `instance` is in the subset.
    pub fn matches(&self, instance: &Instance) -> bool {
        self.group.as_ref().is_none_or(|g| *g == instance.group)
            && self.version.as_ref().is_none_or(|v| *v == instance.version)
            && self.tags.iter().all(|t| instance.tags.contains(t))
    }
}

impl std::fmt::Display for Subset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(group) = &self.group {
            parts.push(format!("group {group:?}"));
        }
        if let Some(version) = &self.version {
            parts.push(format!("version {version:?}"));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags {:?}", self.tags));
        }
        if parts.is_empty() {
            return f.write_str("every instance");
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_criterion_must_match_and_empty_ones_match_all() {
        let instance = Instance {
            group: "canary".into(),
            version: "2".into(),
            tags: vec!["eu".into(), "ssd".into()],
            ..Instance::new("s", "i", "tcp://127.0.0.1:1")
        };
        assert!(Subset::default().matches(&instance));
        assert!(
            Subset::default()
                .group("canary")
                .tag("eu")
                .matches(&instance)
        );
        assert!(!Subset::default().group("stable").matches(&instance));
        assert!(!Subset::default().version("1").matches(&instance));
        assert!(!Subset::default().tag("eu").tag("us").matches(&instance));
    }
}
