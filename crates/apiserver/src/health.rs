//! Health as clients see it: the `etcd` check of `/livez` and `/readyz` and
//! the `etcd-0` component status probe the store; the scheduler's and the
//! controller manager's statuses are what the process running them reports
//! (`skiff server` runs them in-process, so there is no port to probe as
//! kube-apiserver does).

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};
use skiff_core::Status;

use crate::ApiServer;
use crate::encoding::{self, Accept, Body};
use crate::request::Query;
use crate::rest::{Ctx, Result};

/// How long a store probe may take before the store counts as unhealthy.
const STORE_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The components `componentstatuses` lists besides the store, in
/// kube-apiserver's order.
const COMPONENTS: [&str; 2] = ["scheduler", "controller-manager"];

/// What a component of this process last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentHealth {
    Healthy,
    /// Not running, with why.
    Unhealthy(String),
}

/// The health of the components this process runs, as they report it.
#[derive(Debug, Default)]
pub struct Components {
    states: RwLock<BTreeMap<&'static str, ComponentHealth>>,
}

impl Components {
    /// Records `name`'s health (`scheduler`, `controller-manager`).
    pub fn report(&self, name: &'static str, health: ComponentHealth) {
        if let Ok(mut states) = self.states.write() {
            states.insert(name, health);
        }
    }

    /// `name`'s last report; a component nobody reported is not run here.
    fn health(&self, name: &str) -> ComponentHealth {
        self.states
            .read()
            .ok()
            .and_then(|s| s.get(name).cloned())
            .unwrap_or_else(|| {
                ComponentHealth::Unhealthy(format!("{name} is not run by this server"))
            })
    }
}

/// A point read of the store, as etcd's health check reads its `health` key.
async fn probe_store(server: &ApiServer) -> std::result::Result<(), String> {
    match tokio::time::timeout(
        STORE_PROBE_TIMEOUT,
        server.store.get("/registry/health", None),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "the store did not answer within {}s",
            STORE_PROBE_TIMEOUT.as_secs()
        )),
    }
}

/// `/healthz`, `/livez`, `/readyz` and their `?verbose` form: the store must
/// answer, and `/readyz` also needs the caches synced.
pub(crate) async fn endpoint(server: &ApiServer, path: &str, query: &Query) -> Response<Body> {
    let name = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("healthz");
    let store = probe_store(server).await;
    let synced = server.ready.load(std::sync::atomic::Ordering::SeqCst);
    let mut checks = vec![("ping", true), ("log", true), ("etcd", store.is_ok())];
    if name == "readyz" {
        checks.push(("informer-sync", synced));
    }
    let ok = checks.iter().all(|(_, passed)| *passed);
    if let Err(e) = &store {
        tracing::warn!(error = %e, "health check: the store failed");
    }
    let text = if query.get("verbose").is_some() || !ok {
        let mut text = String::new();
        for (check, passed) in &checks {
            if *passed {
                text.push_str(&format!("[+]{check} ok\n"));
            } else {
                // Upstream withholds the reason from the response; it is logged.
                text.push_str(&format!("[-]{check} failed: reason withheld\n"));
            }
        }
        // Both forms end in a newline (upstream's `http.Error` adds it).
        text.push_str(&format!(
            "{name} check {}\n",
            if ok { "passed" } else { "failed" }
        ));
        text
    } else {
        "ok".to_string()
    };
    let mut resp = Response::new(encoding::full(text));
    if !ok {
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// One `ComponentStatus` item.
fn status_item(name: &str, health: std::result::Result<(), String>) -> Value {
    let condition = match health {
        Ok(()) => json!({"type": "Healthy", "status": "True", "message": "ok"}),
        Err(e) => json!({"type": "Healthy", "status": "False", "error": e}),
    };
    json!({"metadata": {"name": name, "creationTimestamp": null}, "conditions": [condition]})
}

/// The statuses of the components and the store (`etcd-0`), probed now.
async fn statuses(server: &ApiServer) -> Vec<Value> {
    let mut items: Vec<Value> = COMPONENTS
        .iter()
        .map(|name| {
            let health = match server.components.health(name) {
                ComponentHealth::Healthy => Ok(()),
                ComponentHealth::Unhealthy(why) => Err(why),
            };
            status_item(name, health)
        })
        .collect();
    items.push(status_item("etcd-0", probe_store(server).await));
    items
}

/// GET and LIST of `componentstatuses`.
pub(crate) async fn component_statuses(ctx: &Ctx<'_>) -> Result<Response<Body>> {
    let items = statuses(ctx.server).await;
    if ctx.req.verb == "get" {
        let name = ctx.req.name.as_str();
        let mut item = items
            .into_iter()
            .find(|i| skiff_core::meta::name(i) == name)
            .ok_or_else(|| Status::not_found(ctx.gr(), name))?;
        ctx.set_type_meta(&mut item);
        return Ok(ctx.respond(StatusCode::OK, &item));
    }
    if ctx.accept == Accept::Table {
        let table = crate::rest::list::table_for(ctx, &items, "");
        return Ok(encoding::json(StatusCode::OK, &table, ctx.pretty));
    }
    let list =
        json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items});
    Ok(encoding::json(StatusCode::OK, &list, ctx.pretty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreported_component_is_not_run_here() {
        let components = Components::default();
        components.report("scheduler", ComponentHealth::Healthy);
        assert_eq!(components.health("scheduler"), ComponentHealth::Healthy);
        assert_eq!(
            components.health("controller-manager"),
            ComponentHealth::Unhealthy("controller-manager is not run by this server".into())
        );
    }

    #[test]
    fn an_unhealthy_item_carries_the_error_not_a_message() {
        assert_eq!(
            status_item("scheduler", Err("stopped".into())),
            json!({"metadata": {"name": "scheduler", "creationTimestamp": null},
                   "conditions": [{"type": "Healthy", "status": "False", "error": "stopped"}]})
        );
    }
}
