//! The service account controller (upstream `pkg/controller/serviceaccount`,
//! `ServiceAccountsController`): every active namespace has a `default`
//! ServiceAccount, recreated if deleted. Token minting is not its business.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use crate::informer::Informers;
use crate::{ApiContext, Error, Result};

/// The ServiceAccounts every namespace gets.
const MANAGED: &[&str] = &["default"];

struct Ctx {
    client: Client,
}

/// Runs the service account controller until its watches fail.
pub async fn run(informers: Informers) -> Result<()> {
    let client = informers.client().clone();
    let namespaces = informers.of::<Namespace>();
    let accounts = informers.of::<ServiceAccount>();
    Controller::for_shared_stream(namespaces.subscribe(), namespaces.store())
        .watches_shared_stream(accounts.subscribe(), |sa| {
            let ns = sa.namespace()?;
            MANAGED
                .contains(&sa.name_any().as_str())
                .then(|| ObjectRef::new(&ns))
        })
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| futures::future::ready(()))
        .await;
    Ok(())
}

fn error_policy(ns: Arc<Namespace>, e: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(namespace = %ns.name_any(), error = %crate::error_chain(e), "service account sync failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Ctx>) -> Result<Action> {
    let active = ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Terminating");
    if !active {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let api: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    for sa in MANAGED {
        if api
            .get_opt(sa)
            .await
            .ctx(|| format!("get serviceaccount {name}/{sa}"))?
            .is_some()
        {
            continue;
        }
        let account = ServiceAccount {
            metadata: ObjectMeta {
                name: Some((*sa).into()),
                namespace: Some(name.clone()),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &account).await {
            Ok(_) => {}
            // Already there, or the namespace started terminating meanwhile.
            Err(e) if crate::is_already_exists(&e) => {}
            Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => {}
            Err(e) => return Err(e).ctx(|| format!("create serviceaccount {name}/{sa}")),
        }
    }
    Ok(Action::await_change())
}
