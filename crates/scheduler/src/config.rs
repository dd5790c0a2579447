//! The scheduler configuration: a subset of upstream's
//! `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`) and the
//! profiles (frameworks) built from it.
//!
//! Supported: `profiles[].schedulerName`, `percentageOfNodesToScore` (global
//! and per profile), `podInitialBackoffSeconds`, `podMaxBackoffSeconds`;
//! `plugins` with `multiPoint`, `preFilter`, `filter`, `postFilter`,
//! `preScore` and `score` sets (`enabled` with `weight`, `disabled`, `"*"`),
//! merged into the default plugins as upstream's `mergePluginSet`; and
//! `pluginConfig` args of NodeResourcesFit (`scoringStrategy` LeastAllocated
//! or MostAllocated with `resources`, `ignoredResources`,
//! `ignoredResourceGroups`), NodeResourcesBalancedAllocation (`resources`),
//! InterPodAffinity (`hardPodAffinityWeight`,
//! `ignorePreferredTermsOfExistingPods`), PodTopologySpread
//! (`defaultingType`, `defaultConstraints`) and DefaultPreemption
//! (`minCandidateNodesPercentage`, `minCandidateNodesAbsolute`). Fields of
//! upstream's format that concern processes skiff does not have
//! (`leaderElection`, `clientConnection`, `parallelism`, ...) are accepted and
//! ignored; anything else is an error, as upstream's strict decoding.
//! Default-only plugins with nothing to do in skiff (PrioritySort is the
//! queue's order, DefaultBinder is `pods/binding`, volume plugins without
//! PersistentVolumes) are accepted by name.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::framework::{FilterPlugin, Framework, ScorePlugin};
use crate::plugins::{
    DEFAULT_PREEMPTION, balanced_allocation, image_locality, inter_pod_affinity, node_affinity,
    node_name, node_ports, node_resources_fit, node_unschedulable, pod_topology_spread,
    taint_toleration, volume_restrictions,
};
use crate::preemption::PreemptionArgs;

/// The scheduler name pods get by default.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";

/// Why a configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to read scheduler configuration {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to parse scheduler configuration")]
    Parse(#[source] serde_yaml::Error),
    #[error(
        "unsupported scheduler configuration: apiVersion {api_version:?}, kind {kind:?} (want kubescheduler.config.k8s.io/v1 KubeSchedulerConfiguration)"
    )]
    Kind { api_version: String, kind: String },
    #[error("profile {profile:?}: {message}")]
    Profile { profile: String, message: String },
    #[error("invalid args of plugin {plugin}")]
    Args {
        plugin: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The scheduler's settings.
#[derive(Clone)]
pub struct Config {
    pub profiles: Vec<Framework>,
    /// Global `percentageOfNodesToScore`; 0 means adaptive (upstream default).
    pub percentage_of_nodes_to_score: u32,
    pub pod_initial_backoff: Duration,
    pub pod_max_backoff: Duration,
    /// Bindings sent concurrently before the scheduling loop waits.
    pub max_bindings_in_flight: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            profiles: vec![
                build_profile(&FileProfile::default(), None)
                    .unwrap_or_else(|_| unreachable_default()),
            ],
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff: Duration::from_secs(1),
            pod_max_backoff: Duration::from_secs(10),
            max_bindings_in_flight: 32,
        }
    }
}

/// The default profile cannot fail to build; this keeps `Default` total
/// without a panic path reachable from input.
fn unreachable_default() -> Framework {
    Framework {
        scheduler_name: DEFAULT_SCHEDULER_NAME.into(),
        filters: Vec::new(),
        scorers: Vec::new(),
        preemption: Some(PreemptionArgs::default()),
        percentage_of_nodes_to_score: None,
    }
}

impl Config {
    /// Reads a `KubeSchedulerConfiguration` file.
    pub fn from_file(path: &std::path::Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_yaml(&text)
    }

    /// Parses a `KubeSchedulerConfiguration` document.
    pub fn from_yaml(text: &str) -> Result<Config> {
        let file: FileConfig = serde_yaml::from_str(text).map_err(Error::Parse)?;
        if file.api_version != "kubescheduler.config.k8s.io/v1"
            || file.kind != "KubeSchedulerConfiguration"
        {
            return Err(Error::Kind {
                api_version: file.api_version,
                kind: file.kind,
            });
        }
        let percentage = file.percentage_of_nodes_to_score.unwrap_or(0);
        if !(0..=100).contains(&percentage) {
            return Err(Error::Invalid(format!(
                "percentageOfNodesToScore: Invalid value: {percentage}: not in valid range [0-100]"
            )));
        }
        let mut profiles = Vec::new();
        let file_profiles = if file.profiles.is_empty() {
            vec![FileProfile::default()]
        } else {
            file.profiles
        };
        for p in &file_profiles {
            let fw = build_profile(p, p.percentage_of_nodes_to_score)?;
            if profiles
                .iter()
                .any(|f: &Framework| f.scheduler_name == fw.scheduler_name)
            {
                return Err(Error::Invalid(format!(
                    "profiles[].schedulerName: Duplicate value: {:?}",
                    fw.scheduler_name
                )));
            }
            profiles.push(fw);
        }
        let initial = file.pod_initial_backoff_seconds.unwrap_or(1);
        let max = file.pod_max_backoff_seconds.unwrap_or(10);
        if initial <= 0 || max < initial {
            return Err(Error::Invalid(format!(
                "podInitialBackoffSeconds ({initial}) must be positive and podMaxBackoffSeconds ({max}) at least as large"
            )));
        }
        Ok(Config {
            profiles,
            percentage_of_nodes_to_score: percentage as u32,
            pod_initial_backoff: Duration::from_secs(initial as u64),
            pod_max_backoff: Duration::from_secs(max as u64),
            ..Config::default()
        })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    percentage_of_nodes_to_score: Option<i64>,
    #[serde(default)]
    pod_initial_backoff_seconds: Option<i64>,
    #[serde(default)]
    pod_max_backoff_seconds: Option<i64>,
    #[serde(default)]
    profiles: Vec<FileProfile>,
    // Accepted and ignored: process settings of kube-scheduler.
    #[serde(default, rename = "parallelism")]
    _parallelism: Option<Value>,
    #[serde(default, rename = "leaderElection")]
    _leader_election: Option<Value>,
    #[serde(default, rename = "clientConnection")]
    _client_connection: Option<Value>,
    #[serde(default, rename = "enableProfiling")]
    _enable_profiling: Option<Value>,
    #[serde(default, rename = "enableContentionProfiling")]
    _enable_contention_profiling: Option<Value>,
    #[serde(default, rename = "delayCacheUntilActive")]
    _delay_cache_until_active: Option<Value>,
    #[serde(default, rename = "extenders")]
    _extenders: Option<Vec<Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FileProfile {
    #[serde(default)]
    scheduler_name: Option<String>,
    #[serde(default)]
    percentage_of_nodes_to_score: Option<i64>,
    #[serde(default)]
    plugins: Option<Plugins>,
    #[serde(default)]
    plugin_config: Vec<PluginConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Plugins {
    #[serde(default)]
    multi_point: PluginSet,
    #[serde(default)]
    pre_filter: PluginSet,
    #[serde(default)]
    filter: PluginSet,
    #[serde(default)]
    post_filter: PluginSet,
    #[serde(default)]
    pre_score: PluginSet,
    #[serde(default)]
    score: PluginSet,
    // Extension points without plugins of their own in skiff.
    #[serde(default)]
    pre_enqueue: PluginSet,
    #[serde(default)]
    queue_sort: PluginSet,
    #[serde(default)]
    reserve: PluginSet,
    #[serde(default)]
    permit: PluginSet,
    #[serde(default)]
    pre_bind: PluginSet,
    #[serde(default)]
    bind: PluginSet,
    #[serde(default)]
    post_bind: PluginSet,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PluginSet {
    #[serde(default)]
    enabled: Vec<PluginRef>,
    #[serde(default)]
    disabled: Vec<PluginRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PluginRef {
    name: String,
    #[serde(default)]
    weight: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PluginConfig {
    name: String,
    #[serde(default)]
    args: Value,
}

/// Upstream's default MultiPoint plugins, in order, with score weights.
const DEFAULT_PLUGINS: &[(&str, Option<i64>)] = &[
    ("SchedulingGates", None),
    ("PrioritySort", None),
    (node_unschedulable::NAME, None),
    (node_name::NAME, None),
    (taint_toleration::NAME, Some(3)),
    (node_affinity::NAME, Some(2)),
    (node_ports::NAME, None),
    (node_resources_fit::NAME, Some(1)),
    (volume_restrictions::NAME, None),
    ("EBSLimits", None),
    ("GCEPDLimits", None),
    ("NodeVolumeLimits", None),
    ("AzureDiskLimits", None),
    ("VolumeBinding", None),
    ("VolumeZone", None),
    (pod_topology_spread::NAME, Some(2)),
    (inter_pod_affinity::NAME, Some(2)),
    (DEFAULT_PREEMPTION, None),
    (balanced_allocation::NAME, Some(1)),
    (image_locality::NAME, Some(1)),
    ("DefaultBinder", None),
];

/// Plugins accepted by name that have nothing to do in skiff.
const NO_OP_PLUGINS: &[&str] = &[
    "SchedulingGates",
    "PrioritySort",
    "EBSLimits",
    "GCEPDLimits",
    "NodeVolumeLimits",
    "AzureDiskLimits",
    "VolumeBinding",
    "VolumeZone",
    "DefaultBinder",
    "DynamicResources",
];

const FILTER_PLUGINS: &[&str] = &[
    node_unschedulable::NAME,
    node_name::NAME,
    taint_toleration::NAME,
    node_affinity::NAME,
    node_ports::NAME,
    node_resources_fit::NAME,
    volume_restrictions::NAME,
    pod_topology_spread::NAME,
    inter_pod_affinity::NAME,
];

const SCORE_PLUGINS: &[&str] = &[
    taint_toleration::NAME,
    node_affinity::NAME,
    node_resources_fit::NAME,
    pod_topology_spread::NAME,
    inter_pod_affinity::NAME,
    balanced_allocation::NAME,
    image_locality::NAME,
];

fn known(name: &str) -> bool {
    NO_OP_PLUGINS.contains(&name)
        || FILTER_PLUGINS.contains(&name)
        || SCORE_PLUGINS.contains(&name)
        || name == DEFAULT_PREEMPTION
}

/// `mergePluginSet`: defaults minus disabled (or none with `*`), custom
/// entries replacing defaults in place, the rest appended.
fn merge(defaults: &[(String, Option<i64>)], custom: &PluginSet) -> Vec<(String, Option<i64>)> {
    let all_disabled = custom.disabled.iter().any(|p| p.name == "*");
    let mut out = Vec::new();
    let mut used = vec![false; custom.enabled.len()];
    if !all_disabled {
        for (name, weight) in defaults {
            if custom.disabled.iter().any(|p| &p.name == name) {
                continue;
            }
            match custom.enabled.iter().position(|p| &p.name == name) {
                Some(i) => {
                    used[i] = true;
                    out.push((name.clone(), custom.enabled[i].weight.or(*weight)));
                }
                None => out.push((name.clone(), *weight)),
            }
        }
    }
    for (i, p) in custom.enabled.iter().enumerate() {
        if !used[i] {
            out.push((p.name.clone(), p.weight));
        }
    }
    out
}

/// Plugin instances of one profile, shared between extension points.
struct Instances {
    fit: Arc<node_resources_fit::NodeResourcesFit>,
    balanced: Arc<balanced_allocation::BalancedAllocation>,
    inter_pod: Arc<inter_pod_affinity::InterPodAffinity>,
    spread: Arc<pod_topology_spread::PodTopologySpread>,
    preemption: PreemptionArgs,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FitArgsFile {
    #[serde(default)]
    ignored_resources: Vec<String>,
    #[serde(default)]
    ignored_resource_groups: Vec<String>,
    #[serde(default)]
    scoring_strategy: Option<ScoringStrategyFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ScoringStrategyFile {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    resources: Option<Vec<node_resources_fit::ResourceSpec>>,
    #[serde(default)]
    requested_to_capacity_ratio: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BalancedArgsFile {
    #[serde(default)]
    resources: Option<Vec<node_resources_fit::ResourceSpec>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct InterPodArgsFile {
    #[serde(default)]
    hard_pod_affinity_weight: Option<i64>,
    #[serde(default)]
    ignore_preferred_terms_of_existing_pods: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SpreadArgsFile {
    #[serde(default)]
    defaulting_type: Option<String>,
    #[serde(default)]
    default_constraints: Option<Vec<pod_topology_spread::DefaultConstraint>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PreemptionArgsFile {
    #[serde(default)]
    min_candidate_nodes_percentage: Option<i64>,
    #[serde(default)]
    min_candidate_nodes_absolute: Option<i64>,
}

fn args<T: serde::de::DeserializeOwned>(name: &str, value: &Value) -> Result<T> {
    // Args may carry apiVersion/kind as upstream's typed args do.
    let mut value = value.clone();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("apiVersion");
        obj.remove("kind");
    }
    if value.is_null() {
        value = Value::Object(Default::default());
    }
    serde_json::from_value(value).map_err(|source| Error::Args {
        plugin: name.to_string(),
        source,
    })
}

fn instances(profile: &str, configs: &[PluginConfig]) -> Result<Instances> {
    let err = |message: String| Error::Profile {
        profile: profile.to_string(),
        message,
    };
    let mut fit = node_resources_fit::FitArgs::default();
    let mut balanced = balanced_allocation::BalancedAllocation::default();
    let mut inter_pod = inter_pod_affinity::InterPodAffinity::default();
    let mut spread = pod_topology_spread::SpreadArgs::default();
    let mut preemption = PreemptionArgs::default();
    for c in configs {
        match c.name.as_str() {
            node_resources_fit::NAME => {
                let a: FitArgsFile = args(&c.name, &c.args)?;
                fit.ignored_resources = a.ignored_resources;
                fit.ignored_resource_groups = a.ignored_resource_groups;
                if let Some(s) = a.scoring_strategy {
                    if s.requested_to_capacity_ratio.is_some() {
                        return Err(err("NodeResourcesFit: the RequestedToCapacityRatio strategy is not supported".into()));
                    }
                    fit.strategy = match s.kind.as_deref() {
                        None | Some("LeastAllocated") => {
                            node_resources_fit::ScoringStrategyType::LeastAllocated
                        }
                        Some("MostAllocated") => {
                            node_resources_fit::ScoringStrategyType::MostAllocated
                        }
                        Some(other) => {
                            return Err(err(format!(
                                "NodeResourcesFit: scoringStrategy.type {other:?} is not supported (LeastAllocated, MostAllocated)"
                            )));
                        }
                    };
                    if let Some(r) = s.resources {
                        fit.resources = r;
                    }
                }
            }
            balanced_allocation::NAME => {
                let a: BalancedArgsFile = args(&c.name, &c.args)?;
                if let Some(r) = a.resources {
                    balanced.resources = r;
                }
            }
            inter_pod_affinity::NAME => {
                let a: InterPodArgsFile = args(&c.name, &c.args)?;
                if let Some(w) = a.hard_pod_affinity_weight {
                    if !(0..=100).contains(&w) {
                        return Err(err(format!(
                            "hardPodAffinityWeight: Invalid value: {w}: not in valid range [0-100]"
                        )));
                    }
                    inter_pod.hard_pod_affinity_weight = w;
                }
                inter_pod.ignore_preferred_terms_of_existing_pods =
                    a.ignore_preferred_terms_of_existing_pods.unwrap_or(false);
            }
            pod_topology_spread::NAME => {
                let a: SpreadArgsFile = args(&c.name, &c.args)?;
                match a.defaulting_type.as_deref() {
                    None | Some("System") => {
                        if a.default_constraints
                            .as_ref()
                            .is_some_and(|c| !c.is_empty())
                        {
                            return Err(err(
                                "PodTopologySpread: defaultConstraints must be empty with defaultingType System".into(),
                            ));
                        }
                    }
                    Some("List") => {
                        spread.system_defaulted = false;
                        spread.default_constraints = a.default_constraints.unwrap_or_default();
                    }
                    Some(other) => {
                        return Err(err(format!(
                            "PodTopologySpread: unknown defaultingType {other:?}"
                        )));
                    }
                }
            }
            DEFAULT_PREEMPTION => {
                let a: PreemptionArgsFile = args(&c.name, &c.args)?;
                if let Some(p) = a.min_candidate_nodes_percentage {
                    preemption.min_candidate_nodes_percentage = p;
                }
                if let Some(a) = a.min_candidate_nodes_absolute {
                    preemption.min_candidate_nodes_absolute = a;
                }
            }
            name if known(name) => {
                return Err(err(format!("plugin {name} takes no args in skiff")));
            }
            name => return Err(err(format!("pluginConfig for unknown plugin {name:?}"))),
        }
    }
    Ok(Instances {
        fit: Arc::new(node_resources_fit::NodeResourcesFit { args: fit }),
        balanced: Arc::new(balanced),
        inter_pod: Arc::new(inter_pod),
        spread: Arc::new(pod_topology_spread::PodTopologySpread::new(spread)),
        preemption,
    })
}

fn filter_plugin(name: &str, inst: &Instances) -> Option<Arc<dyn FilterPlugin>> {
    Some(match name {
        node_unschedulable::NAME => Arc::new(node_unschedulable::NodeUnschedulable),
        node_name::NAME => Arc::new(node_name::NodeName),
        taint_toleration::NAME => Arc::new(taint_toleration::TaintToleration),
        node_affinity::NAME => Arc::new(node_affinity::NodeAffinity),
        node_ports::NAME => Arc::new(node_ports::NodePorts),
        node_resources_fit::NAME => inst.fit.clone(),
        volume_restrictions::NAME => Arc::new(volume_restrictions::VolumeRestrictions),
        pod_topology_spread::NAME => inst.spread.clone(),
        inter_pod_affinity::NAME => inst.inter_pod.clone(),
        _ => return None,
    })
}

fn score_plugin(name: &str, inst: &Instances) -> Option<Arc<dyn ScorePlugin>> {
    Some(match name {
        taint_toleration::NAME => Arc::new(taint_toleration::TaintToleration),
        node_affinity::NAME => Arc::new(node_affinity::NodeAffinity),
        node_resources_fit::NAME => inst.fit.clone(),
        pod_topology_spread::NAME => inst.spread.clone(),
        inter_pod_affinity::NAME => inst.inter_pod.clone(),
        balanced_allocation::NAME => inst.balanced.clone(),
        image_locality::NAME => Arc::new(image_locality::ImageLocality),
        _ => return None,
    })
}

fn build_profile(p: &FileProfile, percentage: Option<i64>) -> Result<Framework> {
    let name = p
        .scheduler_name
        .clone()
        .unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.to_string());
    let err = |message: String| Error::Profile {
        profile: name.clone(),
        message,
    };
    if let Some(pct) = percentage
        && !(0..=100).contains(&pct)
    {
        return Err(err(format!(
            "percentageOfNodesToScore: Invalid value: {pct}: not in valid range [0-100]"
        )));
    }
    let plugins = p.plugins.as_ref();
    let defaults: Vec<(String, Option<i64>)> = DEFAULT_PLUGINS
        .iter()
        .map(|(n, w)| (n.to_string(), *w))
        .collect();
    let empty = PluginSet::default();
    let multi = merge(&defaults, plugins.map_or(&empty, |p| &p.multi_point));
    for (n, _) in &multi {
        if !known(n) {
            return Err(err(format!("unknown plugin {n:?}")));
        }
    }
    if let Some(pl) = plugins {
        for set in [
            &pl.pre_filter,
            &pl.filter,
            &pl.post_filter,
            &pl.pre_score,
            &pl.score,
            &pl.pre_enqueue,
            &pl.queue_sort,
            &pl.reserve,
            &pl.permit,
            &pl.pre_bind,
            &pl.bind,
            &pl.post_bind,
        ] {
            for r in set.enabled.iter().chain(&set.disabled) {
                if r.name != "*" && !known(&r.name) {
                    return Err(err(format!("unknown plugin {:?}", r.name)));
                }
            }
        }
    }
    let inst = instances(&name, &p.plugin_config)?;
    // Filter: MultiPoint filters, then the Filter set merged over them
    // (PreFilter disabling a plugin disables its filter too).
    let mp_filters: Vec<(String, Option<i64>)> = multi
        .iter()
        .filter(|(n, _)| FILTER_PLUGINS.contains(&n.as_str()))
        .cloned()
        .collect();
    let mut filter_names = merge(&mp_filters, plugins.map_or(&empty, |p| &p.filter));
    if let Some(pl) = plugins {
        filter_names.retain(|(n, _)| {
            !pl.pre_filter.disabled.iter().any(|d| &d.name == n)
                || pl.pre_filter.enabled.iter().any(|e| &e.name == n)
        });
    }
    let mut filters = Vec::new();
    for (n, _) in &filter_names {
        match filter_plugin(n, &inst) {
            Some(f) => filters.push(f),
            None => return Err(err(format!("plugin {n:?} does not implement Filter"))),
        }
    }
    let mp_scores: Vec<(String, Option<i64>)> = multi
        .iter()
        .filter(|(n, _)| SCORE_PLUGINS.contains(&n.as_str()))
        .cloned()
        .collect();
    let score_names = merge(&mp_scores, plugins.map_or(&empty, |p| &p.score));
    let mut scorers = Vec::new();
    for (n, w) in &score_names {
        let Some(s) = score_plugin(n, &inst) else {
            return Err(err(format!("plugin {n:?} does not implement Score")));
        };
        // framework: a score plugin without a weight counts 1.
        let w = w.filter(|w| *w != 0).unwrap_or(1);
        if w < 0 {
            return Err(err(format!("plugin {n:?}: weight must be positive")));
        }
        scorers.push((s, w));
    }
    let preemption_in_multi = multi.iter().any(|(n, _)| n == DEFAULT_PREEMPTION);
    let post = merge(
        &if preemption_in_multi {
            vec![(DEFAULT_PREEMPTION.to_string(), None)]
        } else {
            Vec::new()
        },
        plugins.map_or(&empty, |p| &p.post_filter),
    );
    let preemption = post
        .iter()
        .any(|(n, _)| n == DEFAULT_PREEMPTION)
        .then_some(inst.preemption);
    Ok(Framework {
        scheduler_name: name,
        filters,
        scorers,
        preemption,
        percentage_of_nodes_to_score: percentage.filter(|p| *p > 0).map(|p| p as u32),
    })
}

/// The profiles by scheduler name.
pub fn profiles_by_name(config: &Config) -> HashMap<String, Arc<Framework>> {
    config
        .profiles
        .iter()
        .map(|f| (f.scheduler_name.clone(), Arc::new(f.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fw: &Framework) -> (Vec<&'static str>, Vec<(&'static str, i64)>) {
        (
            fw.filters.iter().map(|f| f.name()).collect(),
            fw.scorers.iter().map(|(s, w)| (s.name(), *w)).collect(),
        )
    }

    #[test]
    fn default_profile_has_upstream_plugins_and_weights() {
        let c = Config::default();
        assert_eq!(c.profiles.len(), 1);
        let (filters, scores) = names(&c.profiles[0]);
        assert_eq!(
            filters,
            vec![
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeRestrictions",
                "PodTopologySpread",
                "InterPodAffinity",
            ]
        );
        assert_eq!(
            scores,
            vec![
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1),
            ]
        );
        assert!(c.profiles[0].preemption.is_some());
    }

    #[test]
    fn profiles_weights_and_bin_packing() {
        let c = Config::from_yaml(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: bin-packing
  percentageOfNodesToScore: 50
  plugins:
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
      enabled:
      - name: NodeResourcesFit
        weight: 5
    postFilter:
      disabled:
      - name: DefaultPreemption
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources:
        - name: cpu
          weight: 1
"#,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(c.percentage_of_nodes_to_score, 30);
        assert_eq!(c.profiles.len(), 2);
        let bp = &c.profiles[1];
        assert_eq!(bp.scheduler_name, "bin-packing");
        assert_eq!(bp.percentage_of_nodes_to_score, Some(50));
        assert!(bp.preemption.is_none());
        let (_, scores) = names(bp);
        assert!(scores.contains(&("NodeResourcesFit", 5)));
        assert!(
            !scores
                .iter()
                .any(|(n, _)| *n == "NodeResourcesBalancedAllocation")
        );
    }

    #[test]
    fn multipoint_disable_all() {
        let c = Config::from_yaml(
            r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- plugins:
    multiPoint:
      disabled:
      - name: "*"
      enabled:
      - name: NodeResourcesFit
      - name: TaintToleration
        weight: 7
"#,
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let (filters, scores) = names(&c.profiles[0]);
        assert_eq!(filters, vec!["NodeResourcesFit", "TaintToleration"]);
        assert_eq!(
            scores,
            vec![("NodeResourcesFit", 1), ("TaintToleration", 7)]
        );
        assert!(c.profiles[0].preemption.is_none());
    }

    #[test]
    fn bad_configs_are_rejected() {
        for (name, yaml) in [
            ("wrong kind", "apiVersion: v1\nkind: Pod\n"),
            (
                "unknown field",
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nbogus: 1\n",
            ),
            (
                "unknown plugin",
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- plugins:\n    score:\n      enabled:\n      - name: Nope\n",
            ),
            (
                "percentage out of range",
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npercentageOfNodesToScore: 101\n",
            ),
            (
                "duplicate profile",
                "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: a\n- schedulerName: a\n",
            ),
        ] {
            assert!(Config::from_yaml(yaml).is_err(), "{name}");
        }
    }
}
