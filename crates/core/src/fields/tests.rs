use super::*;

fn parse(s: &str) -> Selector {
    Selector::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn parses_and_prints_canonical_form() {
    // (input, canonical string): terms sorted by their text, `==` printed as
    // `=`, values re-escaped.
    let cases = [
        ("", ""),
        ("a=b", "a=b"),
        ("a==b", "a=b"),
        ("a!=b", "a!=b"),
        ("b=1,a=2", "a=2,b=1"),
        ("a=b,,c=d", "a=b,c=d"),
        ("a=", "a="),
        ("=b", "=b"),
        // A term with neither field nor value vanishes.
        ("=", ""),
        ("metadata.name=x\\,y", "metadata.name=x\\,y"),
        ("a=x\\=y\\\\z", "a=x\\=y\\\\z"),
        ("a=b!c", "a=b!c"),
    ];
    for (input, want) in cases {
        assert_eq!(parse(input).to_string(), want, "{input:?}");
    }
}

#[test]
fn unescapes_values() {
    let s = parse("a=x\\,y,b=p\\=q\\\\");
    let values: Vec<(&str, &str)> = s
        .requirements()
        .iter()
        .map(|r| (r.field.as_str(), r.value.as_str()))
        .collect();
    assert_eq!(values, [("a", "x,y"), ("b", "p=q\\")]);
}

#[test]
fn parse_errors_match_upstream_wording() {
    let cases = [
        ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
        (
            "a=b,foo",
            "invalid selector: 'a=b,foo'; can't understand 'foo'",
        ),
        ("a!b", "invalid selector: 'a!b'; can't understand 'a!b'"),
        (
            "a=b\\!",
            "invalid field selector: invalid escape sequence: \\!",
        ),
        (
            "a=b\\",
            "invalid field selector: invalid escape sequence: \\",
        ),
        // Go prints the rune as its code point: '=' is 61.
        (
            "a=b=c",
            "invalid field selector: unescaped character in value: 61",
        ),
        // Escapes are not honoured when finding the operator.
        (
            "a\\=b=c",
            "invalid field selector: unescaped character in value: 61",
        ),
        // The first operator wins: `!=`, leaving `=b` as the value.
        (
            "a!==b",
            "invalid field selector: unescaped character in value: 61",
        ),
        ("a=,b", "invalid selector: 'a=,b'; can't understand 'b'"),
    ];
    for (input, want) in cases {
        match Selector::parse(input) {
            Ok(s) => panic!("{input:?} parsed as {s}"),
            Err(e) => assert_eq!(e.to_string(), want, "{input:?}"),
        }
    }
}

#[test]
fn matches_with_missing_fields_as_empty() {
    let fields: BTreeMap<String, String> = [("spec.nodeName", "n1"), ("status.phase", "Running")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cases = [
        ("", true),
        ("spec.nodeName=n1", true),
        ("spec.nodeName==n1", true),
        ("spec.nodeName!=n2", true),
        ("spec.nodeName=n1,status.phase!=Failed", true),
        ("spec.restartPolicy=", true),
        ("spec.restartPolicy!=Always", true),
        ("spec.nodeName=n2", false),
        ("spec.nodeName!=n1", false),
        ("spec.nodeName=", false),
        ("spec.nodeName=n1,status.phase=Failed", false),
    ];
    for (sel, want) in cases {
        assert_eq!(parse(sel).matches_map(&fields), want, "{sel:?}");
    }
}

#[test]
fn requires_exact_ignores_not_equals() {
    let s = parse("status.phase!=Failed,spec.nodeName=n1");
    assert_eq!(s.requires_exact("spec.nodeName"), Some("n1"));
    assert_eq!(s.requires_exact("status.phase"), None);
    assert_eq!(s.requires_exact("metadata.name"), None);
    assert_eq!(parse("a==b").requires_exact("a"), Some("b"));
}

#[test]
fn unsupported_fields_are_refused_in_term_order() {
    let s = parse("spec.nodeName=n1,spec.foo=x,metadata.bar=y");
    assert_eq!(
        s.check_supported(&["metadata.name", "spec.nodeName"])
            .map_err(|e| e.to_string()),
        Err("field label not supported: metadata.bar".to_string())
    );
    assert_eq!(
        parse("metadata.name=a,spec.x=b")
            .check_default_fields()
            .map_err(|e| e.to_string()),
        Err("\"spec.x\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".to_string())
    );
    assert!(parse("metadata.namespace=a").check_default_fields().is_ok());
}

#[test]
fn transform_renames_and_drops() {
    // Pods accept the legacy `spec.host` for `spec.nodeName`.
    let s = parse("spec.host=n1,metadata.name=p").transform(|f, v| match f {
        "spec.host" => Ok(("spec.nodeName".to_string(), v.to_string())),
        "metadata.name" => Ok((String::new(), String::new())),
        other => Err(Error::NotSupported(other.to_string())),
    });
    assert_eq!(s.map(|s| s.to_string()), Ok("spec.nodeName=n1".to_string()));
}

#[test]
fn escape_round_trips() {
    for v in ["", "plain", "a,b", "a=b", "a\\b", "\\,=\\"] {
        assert_eq!(unescape_value(&escape_value(v)), Ok(v.to_string()), "{v:?}");
    }
}
