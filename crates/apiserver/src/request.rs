//! What a request asks for, read from its method, path and query, as
//! kube-apiserver's `RequestInfoFactory` reads it.

use std::collections::HashMap;

use percent_encoding::percent_decode_str;

/// A request for a resource (`/api/v1/namespaces/ns/pods/x/status`), or for
/// anything else (discovery, health).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub is_resource: bool,
    /// Kubernetes verb: get, list, watch, create, update, patch, delete,
    /// deletecollection.
    pub verb: String,
    /// `api` or `apis`.
    pub prefix: String,
    pub group: String,
    pub version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The path split on `/`, for non-resource requests.
    pub parts: Vec<String>,
}

/// Query parameters; the last value of a repeated key wins, as Go's
/// `url.Values.Get` takes the first — kubectl never repeats them.
#[derive(Debug, Clone, Default)]
pub struct Query(HashMap<String, String>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        let mut map = HashMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = decode_component(k);
            map.entry(k).or_insert_with(|| decode_component(v));
        }
        Query(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter as Go's `strconv.ParseBool` reads it; absent is false.
    pub fn flag(&self, key: &str) -> bool {
        matches!(
            self.get(key),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }
}

fn decode_component(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus).decode_utf8_lossy().into_owned()
}

/// Subresources of a namespace; any other third segment names a resource
/// inside the namespace.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl RequestInfo {
    /// Reads a request line. `watch` is the `watch` query parameter.
    pub fn parse(method: &http::Method, path: &str, query: &Query) -> RequestInfo {
        let parts: Vec<String> = path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let mut info = RequestInfo {
            parts: parts.clone(),
            verb: method.as_str().to_lowercase(),
            ..Default::default()
        };
        let Some(prefix) = parts.first() else {
            return info;
        };
        if prefix != "api" && prefix != "apis" {
            return info;
        }
        let mut rest: &[String] = &parts[1..];
        if prefix == "api" {
            if rest.is_empty() {
                return info;
            }
        } else {
            if rest.len() < 2 {
                return info;
            }
            info.group = rest[0].clone();
            rest = &rest[1..];
        }
        info.prefix = prefix.clone();
        info.version = rest[0].clone();
        rest = &rest[1..];
        if rest.is_empty() {
            return info;
        }
        info.is_resource = true;

        let mut verb = match *method {
            http::Method::POST => "create",
            http::Method::GET | http::Method::HEAD => "get",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE => "delete",
            _ => "",
        }
        .to_string();
        // The legacy `/watch/` path segment turns a get or list into a watch.
        let mut legacy_watch = false;
        if rest[0] == "watch" {
            legacy_watch = true;
            rest = &rest[1..];
        }
        if rest.first().map(String::as_str) == Some("namespaces") && rest.len() >= 2 {
            info.namespace = rest[1].clone();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2].as_str()) {
                rest = &rest[2..];
            }
        }
        match rest.len() {
            0 => {}
            1 => info.resource = rest[0].clone(),
            2 => {
                info.resource = rest[0].clone();
                info.name = rest[1].clone();
            }
            _ => {
                info.resource = rest[0].clone();
                info.name = rest[1].clone();
                info.subresource = rest[2..].join("/");
            }
        }
        // `/api/v1/namespaces/x` is the namespace itself, not a namespace scope.
        if info.resource == "namespaces" {
            info.namespace.clear();
        }
        if info.name.is_empty() {
            if verb == "get" {
                verb = "list".into();
            } else if verb == "delete" {
                verb = "deletecollection".into();
            }
        }
        if legacy_watch || (query.flag("watch") && (verb == "list" || verb == "get")) {
            verb = "watch".into();
        }
        info.verb = verb;
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn parse(method: Method, path: &str, query: &str) -> RequestInfo {
        RequestInfo::parse(&method, path, &Query::parse(Some(query)))
    }

    #[test]
    fn reads_resource_paths_like_upstream() {
        let cases = [
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods",
                "",
                "list",
                "",
                "ns",
                "pods",
                "",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns/pods/p/log",
                "",
                "get",
                "",
                "ns",
                "pods",
                "p",
                "log",
            ),
            (
                Method::GET,
                "/apis/apps/v1/deployments",
                "watch=true",
                "watch",
                "apps",
                "",
                "deployments",
                "",
                "",
            ),
            (
                Method::GET,
                "/api/v1/watch/namespaces/ns/pods/p",
                "",
                "watch",
                "",
                "ns",
                "pods",
                "p",
                "",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/ns",
                "",
                "get",
                "",
                "",
                "namespaces",
                "ns",
                "",
            ),
            (
                Method::PUT,
                "/api/v1/namespaces/ns/finalize",
                "",
                "update",
                "",
                "",
                "namespaces",
                "ns",
                "finalize",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/ns/configmaps",
                "",
                "deletecollection",
                "",
                "ns",
                "configmaps",
                "",
                "",
            ),
            (
                Method::POST,
                "/api/v1/namespaces/ns/pods/p/binding",
                "",
                "create",
                "",
                "ns",
                "pods",
                "p",
                "binding",
            ),
        ];
        for (m, path, q, verb, group, ns, res, name, sub) in cases {
            let i = parse(m, path, q);
            assert!(i.is_resource, "{path}");
            assert_eq!(
                (
                    i.verb.as_str(),
                    i.group.as_str(),
                    i.namespace.as_str(),
                    i.resource.as_str(),
                    i.name.as_str(),
                    i.subresource.as_str()
                ),
                (verb, group, ns, res, name, sub),
                "{path}"
            );
        }
    }

    #[test]
    fn discovery_paths_are_not_resources() {
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/healthz",
        ] {
            assert!(!parse(Method::GET, p, "").is_resource, "{p}");
        }
    }

    #[test]
    fn query_decodes_selectors() {
        let q = Query::parse(Some("labelSelector=app%3Dweb%2Ctier+in+(a)&watch=1"));
        assert_eq!(q.get("labelSelector"), Some("app=web,tier in (a)"));
        assert!(q.flag("watch"));
    }
}
