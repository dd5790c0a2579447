//! API discovery for the controllers that act on every kind (namespace
//! deletion, garbage collection): the preferred version of each group and its
//! top-level resources, with the groups that failed to answer.

use kube::Client;
use kube::discovery::ApiResource;

/// A discovered resource.
#[derive(Clone, Debug)]
pub struct Resource {
    pub api: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl Resource {
    /// Whether the resource supports every verb of `verbs`.
    pub fn supports(&self, verbs: &[&str]) -> bool {
        verbs
            .iter()
            .all(|v| self.verbs.iter().any(|have| have == v))
    }
}

/// What discovery found, and the group versions that failed.
#[derive(Default)]
pub struct Discovered {
    pub resources: Vec<Resource>,
    pub failed: Vec<(String, String)>,
}

fn add(
    out: &mut Discovered,
    gv: &str,
    list: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList,
) {
    let (group, version) = match gv.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), gv.to_string()),
    };
    for r in list.resources {
        if r.name.contains('/') {
            continue;
        }
        out.resources.push(Resource {
            api: ApiResource {
                group: group.clone(),
                version: version.clone(),
                api_version: gv.to_string(),
                kind: r.kind.clone(),
                plural: r.name.clone(),
            },
            namespaced: r.namespaced,
            verbs: r.verbs.clone(),
        });
    }
}

/// The preferred versions of all groups (`ServerPreferredResources`).
pub async fn preferred_resources(client: &Client) -> Result<Discovered, kube::Error> {
    let mut out = Discovered::default();
    let core = client.list_core_api_versions().await?;
    for v in core.versions.iter().take(1) {
        match client.list_core_api_resources(v).await {
            Ok(list) => add(&mut out, v, list),
            Err(e) => out.failed.push((v.clone(), e.to_string())),
        }
    }
    let groups = client.list_api_groups().await?;
    for g in groups.groups {
        let Some(pref) = g
            .preferred_version
            .clone()
            .or_else(|| g.versions.first().cloned())
        else {
            continue;
        };
        match client.list_api_group_resources(&pref.group_version).await {
            Ok(list) => add(&mut out, &pref.group_version, list),
            Err(e) => out.failed.push((pref.group_version.clone(), e.to_string())),
        }
    }
    Ok(out)
}
