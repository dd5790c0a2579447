//! Leader election over a `coordination.k8s.io/v1` Lease, as client-go's
//! `leaderelection` package does: lease duration 15 s, renew deadline 10 s,
//! retry period 2 s. Only the holder runs the controllers, so several
//! `skiff server` processes can share one datastore.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};

const NAMESPACE: &str = "kube-system";
const NAME: &str = "skiff-controller-manager";
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RENEW_DEADLINE: Duration = Duration::from_secs(10);
const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// This process's holder identity: hostname and a random suffix, as upstream.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "skiff".into());
    let suffix: u64 = rand::random();
    format!("{host}_{suffix:016x}")
}

/// Takes and keeps the controller-manager Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    identity: String,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl LeaderElector {
    /// An elector for `identity`.
    pub fn new(client: Client, identity: String) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, NAMESPACE),
            identity,
        }
    }

    /// Returns once this process holds the lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "failed to acquire the leader lease"),
            }
            tokio::time::sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews the lease until a renewal fails for longer than the renew deadline.
    pub async fn hold(&self) {
        let mut last_renew = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RETRY_PERIOD).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renew = tokio::time::Instant::now(),
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "failed to renew the leader lease");
                    if last_renew.elapsed() > RENEW_DEADLINE {
                        return;
                    }
                }
            }
        }
    }

    /// One attempt: true when this process holds the lease afterwards.
    async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let existing = match self.api.get_opt(NAME).await? {
            Some(l) => l,
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(NAME.into()),
                        namespace: Some(NAMESPACE.into()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
                        acquire_time: Some(now()),
                        renew_time: Some(now()),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(e) if crate::is_conflict(&e) => Ok(false),
                    Err(e) => Err(e),
                };
            }
        };
        let spec = existing.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() {
            let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
            let renewed = spec
                .renew_time
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0);
            if renewed + duration > k8s_openapi::jiff::Timestamp::now().as_second() {
                return Ok(false);
            }
        }
        let mut lease = existing;
        let mut new_spec = spec;
        if !ours {
            new_spec.acquire_time = Some(now());
            new_spec.lease_transitions = Some(new_spec.lease_transitions.unwrap_or(0) + 1);
            new_spec.holder_identity = Some(self.identity.clone());
        }
        new_spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
        new_spec.renew_time = Some(now());
        lease.spec = Some(new_spec);
        match self.api.replace(NAME, &PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(e) if crate::is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
