//! Request bodies and responses: JSON and YAML in, JSON out, errors as
//! `metav1.Status`, content negotiation as kube-apiserver does it.

use std::convert::Infallible;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use skiff_core::Status;
use skiff_core::decode::Decoded;

/// The response body type of every handler.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// kube-apiserver's limit on request bodies (3 MiB).
pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// What the client accepts, from its `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    Json,
    /// `as=Table;g=meta.k8s.io` (v1 or v1beta1).
    Table,
    /// `as=PartialObjectMetadata` (or its list).
    Metadata,
    /// Aggregated discovery (`as=APIGroupDiscoveryList;g=apidiscovery.k8s.io`).
    Discovery {
        v2: bool,
    },
    /// Only media types skiff does not serve (protobuf, CBOR).
    Unsupported,
}

impl Accept {
    /// Picks the first acceptable media type in the client's order.
    pub fn parse(header: Option<&HeaderValue>) -> Accept {
        let Some(value) = header.and_then(|h| h.to_str().ok()) else {
            return Accept::Json;
        };
        for clause in value.split(',') {
            let mut parts = clause.split(';').map(str::trim);
            let media = parts.next().unwrap_or("");
            let params: Vec<(&str, &str)> = parts.filter_map(|p| p.split_once('=')).collect();
            let param = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
            match media {
                "application/json" | "application/*" | "*/*" | "application/yaml" => {
                    match (param("as"), param("g")) {
                        (Some("Table"), Some("meta.k8s.io")) => return Accept::Table,
                        (
                            Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                            Some("meta.k8s.io"),
                        ) => {
                            return Accept::Metadata;
                        }
                        (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io")) => {
                            return Accept::Discovery {
                                v2: param("v") == Some("v2"),
                            };
                        }
                        (Some(_), _) => continue,
                        (None, _) => return Accept::Json,
                    }
                }
                "" => return Accept::Json,
                _ => continue,
            }
        }
        Accept::Unsupported
    }
}

/// A JSON response, indented with `?pretty=true`.
pub fn json(code: StatusCode, value: &Value, pretty: bool) -> Response<Body> {
    let bytes = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    }
    .unwrap_or_default();
    raw_json(code, bytes)
}

pub fn raw_json(code: StatusCode, bytes: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(bytes));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A failure as a `metav1.Status`.
pub fn status(s: &Status) -> Response<Body> {
    let code = StatusCode::from_u16(s.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json(code, &s.to_json(), false);
    if let Some(secs) = s.retry_after
        && let Ok(v) = HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// Decodes a request body by its content type. JSON and YAML are accepted as
/// upstream does; the caller checks kind and apiVersion.
pub fn decode(content_type: &str, body: &[u8]) -> Result<Value, Status> {
    decode_noting_duplicates(content_type, body).map(|d| d.value)
}

/// Like [`decode`], also naming the fields that appear twice in one object
/// (the last value wins), for `fieldValidation`.
pub fn decode_noting_duplicates(content_type: &str, body: &[u8]) -> Result<Decoded, Status> {
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        "application/yaml" | "application/apply-patch+yaml" => decode_yaml(body),
        ""
        | "application/json"
        | "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/strategic-merge-patch+json"
        | "*/*" => decode_json(body),
        "application/vnd.kubernetes.protobuf" => Ok(Decoded {
            value: decode_protobuf(body)?,
            duplicates: Vec::new(),
        }),
        "application/cbor" => Err(Status::unsupported_media_type(media)),
        other => Err(Status::unsupported_media_type(other)),
    }
}

/// Typed clients (kubectl's among them) send Kubernetes protobuf; it becomes
/// the same JSON the object would have been sent as.
fn decode_protobuf(body: &[u8]) -> Result<Value, Status> {
    skiff_core::protobuf::decode(body).map_err(|e| {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Status::bad_request(format!("error decoding from protobuf: {message}"))
    })
}

fn decode_json(body: &[u8]) -> Result<Decoded, Status> {
    skiff_core::decode::json(body).map_err(|e| {
        Status::bad_request(format!(
            "error decoding from json: {}",
            json_error_message(&e, body)
        ))
    })
}

/// Go's decoder words its syntax errors differently; keep the position so the
/// user can find the mistake.
fn json_error_message(e: &serde_json::Error, _body: &[u8]) -> String {
    format!(
        "invalid character in JSON at line {} column {}: {e}",
        e.line(),
        e.column()
    )
}

fn decode_yaml(body: &[u8]) -> Result<Decoded, Status> {
    skiff_core::decode::yaml(body)
        .map_err(|e| Status::bad_request(format!("error converting YAML to JSON: yaml: {e}")))
}

/// Reads a whole request body up to [`MAX_BODY`].
pub async fn read_body<B>(body: B) -> Result<Bytes, Status>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limited = http_body_util::Limited::new(body, MAX_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Status::request_entity_too_large(MAX_BODY))
        }
        Err(e) => Err(Status::bad_request(format!(
            "failed to read request body: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_follows_client_order() {
        let h = |s: &'static str| Accept::parse(Some(&HeaderValue::from_static(s)));
        assert_eq!(
            h(
                "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
            ),
            Accept::Table
        );
        assert_eq!(
            h(
                "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
            ),
            Accept::Discovery { v2: true }
        );
        assert_eq!(h("application/vnd.kubernetes.protobuf, */*"), Accept::Json);
        assert_eq!(
            h("application/vnd.kubernetes.protobuf"),
            Accept::Unsupported
        );
        assert_eq!(Accept::parse(None), Accept::Json);
    }

    #[test]
    fn yaml_and_json_decode_alike() {
        let a = decode("application/yaml", b"kind: ConfigMap\ndata:\n  a: b\n").expect("yaml");
        let b = decode(
            "application/json",
            br#"{"kind":"ConfigMap","data":{"a":"b"}}"#,
        )
        .expect("json");
        assert_eq!(a, b);
        assert_eq!(decode("application/json", b"{").expect_err("bad").code, 400);
    }
}
