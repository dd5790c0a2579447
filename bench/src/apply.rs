//! `skiff-bench apply`: what each way `kubectl` and controllers write an
//! object costs, on one Deployment of 10 containers.
//!
//! One client, on one HTTP/1.1 connection per verb, changes one container's
//! image per request with: a plain update (PUT of the object it last got
//! back, with its resourceVersion), a JSON merge patch, a strategic merge
//! patch as `kubectl apply` (client-side) sends it, and a server-side apply
//! of the whole manifest. No peer: etcd stores bytes and knows no patch.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{Conn, JSON};
use crate::report::{Align, Figures, cell, table};
use crate::skiff;
use crate::stats::{Run, drive};

/// Containers in the Deployment.
pub const CONTAINERS: usize = 10;
/// Upper bound of any one phase.
const PHASE_LIMIT: Duration = Duration::from_secs(180);
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const NAME: &str = "bench-apply";
/// Where client-side `kubectl apply` keeps the config it last applied.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub struct Options {
    pub skiff_bin: PathBuf,
    /// Requests per verb.
    pub iterations: usize,
}

/// One way of writing the object, measured as a phase of its own.
#[derive(Clone, Copy)]
enum Verb {
    Update,
    MergePatch,
    StrategicMergePatch,
    Apply,
}

impl Verb {
    const ALL: [Verb; 4] = [
        Verb::Update,
        Verb::MergePatch,
        Verb::StrategicMergePatch,
        Verb::Apply,
    ];

    /// The prefix of its figures.
    fn key(self) -> &'static str {
        match self {
            Verb::Update => "update",
            Verb::MergePatch => "merge_patch",
            Verb::StrategicMergePatch => "smp",
            Verb::Apply => "apply",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verb::Update => "update (PUT with resourceVersion)",
            Verb::MergePatch => "JSON merge patch",
            Verb::StrategicMergePatch => "strategic merge patch (kubectl apply)",
            Verb::Apply => "server-side apply (force)",
        }
    }
}

fn container_name(i: usize) -> String {
    format!("app-{i}")
}

fn image(i: usize, tag: &str) -> String {
    format!("registry.example.com/bench/app-{i}:{tag}")
}

/// One container as a user writes it: env, a port and resources.
fn container(i: usize, image: &str) -> Value {
    json!({
        "name": container_name(i),
        "image": image,
        "args": ["--listen", format!(":{}", 8080 + i)],
        "ports": [{ "name": format!("http-{i}"), "containerPort": 8080 + i, "protocol": "TCP" }],
        "env": [
            { "name": "MODE", "value": "bench" },
            { "name": "INDEX", "value": i.to_string() },
            { "name": "LOG_LEVEL", "value": "info" },
            { "name": "POD_NAME", "valueFrom": { "fieldRef": { "fieldPath": "metadata.name" } } },
        ],
        "resources": {
            "requests": { "cpu": "10m", "memory": "16Mi" },
            "limits": { "cpu": "100m", "memory": "64Mi" },
        },
    })
}

fn containers(images: &[String]) -> Vec<Value> {
    images
        .iter()
        .enumerate()
        .map(|(i, image)| container(i, image))
        .collect()
}

/// The manifest as a user keeps it in a file.
fn manifest(images: &[String]) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": NAME, "namespace": "default", "labels": { "app": NAME } },
        "spec": {
            "replicas": 1,
            "selector": { "matchLabels": { "app": NAME } },
            "template": {
                "metadata": { "labels": { "app": NAME } },
                "spec": { "containers": containers(images) },
            },
        },
    })
}

/// The annotation value kubectl writes: the config encoded as JSON, with
/// the encoder's trailing newline.
fn last_applied(config: &Value) -> String {
    format!("{config}\n")
}

/// The object as `kubectl apply` creates it: the manifest plus itself in
/// the last-applied annotation, so every verb works on the same object.
fn created_by_kubectl(images: &[String]) -> Value {
    let config = manifest(images);
    let mut object = config.clone();
    object["metadata"]["annotations"] = json!({ LAST_APPLIED: last_applied(&config) });
    object
}

/// Method, path, media type and body of a write.
type Request = (Method, String, &'static str, Value);

/// The request that sets container `k` to `images[k]` with `verb`, given
/// the live object as last returned.
fn request(verb: Verb, live: &Value, images: &[String], k: usize) -> Request {
    let path = format!("{DEPLOYMENTS}/{NAME}");
    match verb {
        Verb::Update => {
            // A controller's read-modify-write: the object it got back,
            // resourceVersion and all, with one field changed.
            let mut object = live.clone();
            object["spec"]["template"]["spec"]["containers"][k]["image"] = images[k].clone().into();
            (Method::PUT, path, JSON, object)
        }
        // RFC 7386 replaces a list whole: one image means every container.
        Verb::MergePatch => (
            Method::PATCH,
            path,
            "application/merge-patch+json",
            json!({ "spec": { "template": { "spec": { "containers": containers(images) } } } }),
        ),
        // kubectl's three-way patch for a changed image: the new
        // last-applied annotation, the order of the merge list, and the
        // changed field of the item, found by its merge key.
        Verb::StrategicMergePatch => {
            let order: Vec<Value> = (0..images.len())
                .map(|i| json!({ "name": container_name(i) }))
                .collect();
            let patch = json!({
                "metadata": { "annotations": { LAST_APPLIED: last_applied(&manifest(images)) } },
                "spec": { "template": { "spec": {
                    "$setElementOrder/containers": order,
                    "containers": [{ "image": images[k], "name": container_name(k) }],
                } } },
            });
            (
                Method::PATCH,
                path,
                "application/strategic-merge-patch+json",
                patch,
            )
        }
        // `kubectl apply --server-side --force-conflicts` sends the whole
        // manifest as JSON, which is YAML.
        Verb::Apply => (
            Method::PATCH,
            format!("{path}?fieldManager=bench&force=true"),
            "application/apply-patch+yaml",
            manifest(images),
        ),
    }
}

/// The images of the live object's containers, in order.
fn live_images(live: &Value) -> Result<Vec<String>> {
    let containers = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .context("the Deployment has no containers")?;
    containers
        .iter()
        .map(|c| {
            c["image"]
                .as_str()
                .map(str::to_owned)
                .context("a container has no image")
        })
        .collect()
}

/// The one client of a phase: its connection and the object as last returned.
struct Client {
    conn: Conn,
    live: Value,
}

impl Client {
    /// Connects and reads the object, as a client starting work does.
    async fn start(server: &skiff::Server) -> Result<Client> {
        let mut conn = Conn::connect(server.addr, &server.admin).await?;
        let body = conn
            .expect(
                Method::GET,
                &format!("{DEPLOYMENTS}/{NAME}"),
                Bytes::new(),
                StatusCode::OK,
            )
            .await?;
        let live = serde_json::from_slice(&body).context("bad get response")?;
        Ok(Client { conn, live })
    }

    /// Write `i` of a phase: container `i % 10` gets an image tagged with
    /// the verb and `i`, so every write changes the object.
    async fn write(&mut self, verb: Verb, i: usize) -> Result<()> {
        let (images, (method, path, content_type, body)) = self.next(verb, i)?;
        let body = Bytes::from(body.to_string());
        let response = self
            .conn
            .expect_as(method, &path, content_type, body, StatusCode::OK)
            .await?;
        let live: Value = serde_json::from_slice(&response).context("bad write response")?;
        // A write the server accepted but did not apply would be cheap and wrong.
        let got = live_images(&live)?;
        if got != images {
            bail!("{} left images {got:?}, expected {images:?}", verb.label());
        }
        self.live = live;
        Ok(())
    }

    /// The images after write `i` and its request.
    fn next(&self, verb: Verb, i: usize) -> Result<(Vec<String>, Request)> {
        let k = i % CONTAINERS;
        let mut images = live_images(&self.live)?;
        images[k] = image(k, &format!("{}-{i}", verb.key()));
        let request = request(verb, &self.live, &images, k);
        Ok((images, request))
    }
}

/// `iterations` writes with `verb`; also returns the size of one request.
async fn phase(server: &skiff::Server, verb: Verb, iterations: usize) -> Result<(Run, usize)> {
    let client = Client::start(server).await?;
    let (_, (_, _, _, body)) = client.next(verb, 0)?;
    let request_bytes = body.to_string().len();
    let run = drive(
        vec![client],
        iterations,
        PHASE_LIMIT,
        move |mut client, i| async move {
            client.write(verb, i).await?;
            Ok(client)
        },
    )
    .await
    .with_context(|| format!("{} failed", verb.label()))?;
    Ok((run, request_bytes))
}

pub async fn run(opts: &Options) -> Result<Figures> {
    let mut figures = Figures::default();
    figures.set_text("benchmark", "apply");
    figures.set_count("containers", CONTAINERS);
    figures.set_count("iterations", opts.iterations);

    eprintln!("skiff: {}", opts.skiff_bin.display());
    let server = skiff::start(
        &opts.skiff_bin,
        // The API server's write paths alone: no controller rewrites the
        // Deployment's status between the measured writes.
        &["--disable-controllers", "--disable-scheduler"],
    )
    .await
    .context("failed to start skiff")?;
    let images: Vec<String> = (0..CONTAINERS).map(|i| image(i, "v0")).collect();
    let mut conn = Conn::connect(server.addr, &server.admin).await?;
    conn.expect(
        Method::POST,
        DEPLOYMENTS,
        Bytes::from(created_by_kubectl(&images).to_string()),
        StatusCode::CREATED,
    )
    .await
    .context("failed to create the Deployment")?;
    drop(conn);

    for verb in Verb::ALL {
        let (run, request_bytes) = phase(&server, verb, opts.iterations).await?;
        let key = verb.key();
        figures.set(&format!("{key}_p50_ms"), run.p50());
        figures.set(&format!("{key}_p99_ms"), run.p99());
        figures.set(&format!("{key}_per_s"), run.per_s());
        figures.set_count(&format!("{key}_request_bytes"), request_bytes);
        eprintln!(
            "  {}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {request_bytes} B per request",
            verb.label(),
            run.per_s(),
            run.p50(),
            run.p99()
        );
    }
    let object = Client::start(&server).await?.live.to_string().len();
    figures.set_count("object_bytes", object);
    eprintln!("  the Deployment is {object} B of JSON at the end");
    Ok(figures)
}

/// The table for people; the JSON line is [`Figures::json`].
pub fn render(figures: &Figures) -> String {
    let rows: Vec<Vec<String>> = Verb::ALL
        .iter()
        .map(|verb| {
            let key = verb.key();
            vec![
                verb.label().to_owned(),
                cell(figures.get(&format!("{key}_request_bytes"))),
                cell(figures.get(&format!("{key}_p50_ms"))),
                cell(figures.get(&format!("{key}_p99_ms"))),
                cell(figures.get(&format!("{key}_per_s"))),
            ]
        })
        .collect();
    table(
        &[
            ("write, 1 client", Align::Left),
            ("request (B)", Align::Right),
            ("p50 (ms)", Align::Right),
            ("p99 (ms)", Align::Right),
            ("ops/s", Align::Right),
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(tag: &str) -> Vec<String> {
        (0..CONTAINERS).map(|i| image(i, tag)).collect()
    }

    #[test]
    fn smp_names_every_container_and_carries_only_the_changed_one() {
        let mut new = images("v0");
        new[3] = image(3, "v1");
        let (method, _, content_type, patch) =
            request(Verb::StrategicMergePatch, &Value::Null, &new, 3);
        assert_eq!(method, Method::PATCH);
        assert_eq!(content_type, "application/strategic-merge-patch+json");
        let spec = &patch["spec"]["template"]["spec"];
        assert_eq!(
            spec["$setElementOrder/containers"].as_array().map(Vec::len),
            Some(CONTAINERS)
        );
        assert_eq!(
            spec["containers"],
            json!([{ "image": image(3, "v1"), "name": "app-3" }])
        );
        let annotation = patch["metadata"]["annotations"][LAST_APPLIED]
            .as_str()
            .expect("annotation");
        let config: Value = serde_json::from_str(annotation).expect("JSON config");
        assert_eq!(config, manifest(&new));
    }

    #[test]
    fn update_changes_one_image_of_the_live_object() {
        let live = created_by_kubectl(&images("v0"));
        let mut new = images("v0");
        new[9] = image(9, "v1");
        let (method, _, _, object) = request(Verb::Update, &live, &new, 9);
        assert_eq!(method, Method::PUT);
        assert_eq!(live_images(&object).expect("images"), new);
        assert_eq!(object["metadata"], live["metadata"]);
    }

    #[test]
    fn apply_sends_the_whole_manifest_with_force() {
        let new = images("v1");
        let (_, path, content_type, body) = request(Verb::Apply, &Value::Null, &new, 0);
        assert!(path.ends_with("?fieldManager=bench&force=true"), "{path}");
        assert_eq!(content_type, "application/apply-patch+yaml");
        assert_eq!(body, manifest(&new));
    }
}
