//! Discovery documents: the legacy `/api`, `/apis`, group and group-version
//! documents, aggregated discovery (`apidiscovery.k8s.io/v2` and `v2beta1`), and
//! `/version`. All built once from the registry: discovery is static.

use serde_json::{Value, json};
use skiff_core::registry::{self, ResourceInfo};

/// The Kubernetes version skiff speaks.
pub const KUBE_MAJOR: &str = "1";
pub const KUBE_MINOR: &str = "33";
pub const GIT_VERSION: &str = "v1.33.0+skiff";

/// Discovery documents, precomputed.
pub struct Discovery {
    pub api: Value,
    pub apis: Value,
    pub aggregated_api: Value,
    pub aggregated_apis: Value,
    groups: Vec<(String, Value)>,
    group_versions: Vec<(String, Value)>,
}

fn group_version(group: &str, version: &str) -> String {
    skiff_core::meta::api_version(group, version)
}

fn resources_of<'a>(
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'static ResourceInfo> + 'a {
    registry::resources()
        .iter()
        .filter(move |r| r.group == group && r.version == version)
}

fn legacy_resource_list(group: &str, version: &str) -> Value {
    let mut list = Vec::new();
    for r in resources_of(group, version) {
        let mut o = serde_json::Map::new();
        o.insert("name".into(), json!(r.resource));
        o.insert("singularName".into(), json!(r.singular));
        o.insert("namespaced".into(), json!(r.namespaced));
        o.insert("kind".into(), json!(r.kind));
        o.insert("verbs".into(), json!(r.verbs));
        if !r.short_names.is_empty() {
            o.insert("shortNames".into(), json!(r.short_names));
        }
        if !r.categories.is_empty() {
            o.insert("categories".into(), json!(r.categories));
        }
        list.push(Value::Object(o));
        for s in r.subresources {
            let mut o = serde_json::Map::new();
            o.insert("name".into(), json!(format!("{}/{}", r.resource, s.name)));
            o.insert("singularName".into(), json!(""));
            o.insert("namespaced".into(), json!(r.namespaced));
            if s.group != r.group || s.version != r.version {
                o.insert("group".into(), json!(s.group));
                o.insert("version".into(), json!(s.version));
            }
            o.insert("kind".into(), json!(s.kind));
            o.insert("verbs".into(), json!(s.verbs));
            list.push(Value::Object(o));
        }
    }
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version(group, version),
        "resources": list,
    })
}

fn legacy_group(name: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": group_version(name, v), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": vs,
        "preferredVersion": vs.first().cloned().unwrap_or(Value::Null),
    })
}

fn aggregated_group(name: &str, versions: &[&str]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| {
            let resources: Vec<Value> = resources_of(name, v)
                .map(|r| {
                    let mut o = serde_json::Map::new();
                    o.insert("resource".into(), json!(r.resource));
                    o.insert(
                        "responseKind".into(),
                        json!({"group": r.group, "version": r.version, "kind": r.kind}),
                    );
                    o.insert(
                        "scope".into(),
                        json!(if r.namespaced { "Namespaced" } else { "Cluster" }),
                    );
                    o.insert("singularResource".into(), json!(r.singular));
                    o.insert("verbs".into(), json!(r.verbs));
                    if !r.short_names.is_empty() {
                        o.insert("shortNames".into(), json!(r.short_names));
                    }
                    if !r.categories.is_empty() {
                        o.insert("categories".into(), json!(r.categories));
                    }
                    if !r.subresources.is_empty() {
                        let subs: Vec<Value> = r
                            .subresources
                            .iter()
                            .map(|s| {
                                json!({
                                    "subresource": s.name,
                                    "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                                    "verbs": s.verbs,
                                })
                            })
                            .collect();
                        o.insert("subresources".into(), json!(subs));
                    }
                    Value::Object(o)
                })
                .collect();
            json!({"version": v, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = serde_json::Map::new();
    if !name.is_empty() {
        metadata.insert("name".into(), json!(name));
    }
    metadata.insert("creationTimestamp".into(), Value::Null);
    json!({"metadata": metadata, "versions": vs})
}

impl Discovery {
    pub fn build() -> Discovery {
        let mut groups = Vec::new();
        let mut group_versions = Vec::new();
        let mut legacy_groups = Vec::new();
        let mut aggregated = Vec::new();
        let mut core_versions: Vec<&str> = Vec::new();
        for g in registry::groups() {
            for v in g.versions {
                group_versions.push((group_version(g.name, v), legacy_resource_list(g.name, v)));
            }
            if g.name.is_empty() {
                core_versions = g.versions.to_vec();
                continue;
            }
            let lg = legacy_group(g.name, g.versions);
            let mut doc = lg.clone();
            if let Value::Object(m) = &mut doc {
                m.insert("kind".into(), json!("APIGroup"));
                m.insert("apiVersion".into(), json!("v1"));
            }
            groups.push((g.name.to_string(), doc));
            legacy_groups.push(lg);
            aggregated.push(aggregated_group(g.name, g.versions));
        }
        let list = |items: Vec<Value>| {
            json!({
                "kind": "APIGroupDiscoveryList",
                "apiVersion": "apidiscovery.k8s.io/v2",
                "metadata": {},
                "items": items,
            })
        };
        Discovery {
            api: json!({
                "kind": "APIVersions",
                "versions": core_versions,
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
            }),
            apis: json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": legacy_groups}),
            aggregated_api: list(vec![aggregated_group("", &core_versions)]),
            aggregated_apis: list(aggregated),
            groups,
            group_versions,
        }
    }

    /// `/apis/<group>`.
    pub fn group(&self, name: &str) -> Option<&Value> {
        self.groups.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// `/api/v1` or `/apis/<group>/<version>`.
    pub fn group_version(&self, group: &str, version: &str) -> Option<&Value> {
        let gv = group_version(group, version);
        self.group_versions
            .iter()
            .find(|(n, _)| *n == gv)
            .map(|(_, v)| v)
    }
}

/// `/version`.
pub fn version_info() -> Value {
    json!({
        "major": KUBE_MAJOR,
        "minor": KUBE_MINOR,
        "emulationMajor": KUBE_MAJOR,
        "emulationMinor": KUBE_MINOR,
        "minCompatibilityMajor": KUBE_MAJOR,
        "minCompatibilityMinor": "32",
        "gitVersion": GIT_VERSION,
        "gitCommit": env!("CARGO_PKG_VERSION"),
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, goarch()),
    })
}

fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
