use serde_json::json;

use super::*;

const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn labels(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[test]
fn parses_and_prints_canonical_form() {
    // (input, canonical string): requirements sorted by key, values sorted and
    // deduplicated, whitespace dropped, `()` and empty list places are "".
    let cases = [
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("", ""),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=", "x="),
        ("x= ", "x="),
        ("x=,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        ("x==a", "x==a"),
        ("\rx", "x"),
        ("foo  in\t (abc)", "foo in (abc)"),
        ("x notin\n (abc)", "x notin (abc)"),
        ("x in (def,abc,abc)", "x in (abc,def)"),
        ("x in (abc,)", "x in (,abc)"),
        ("x in ()", "x in ()"),
        (
            "x notin (abc,,def),bar,z in (),w",
            "bar,w,x notin (,abc,def),z in ()",
        ),
        ("x=a,a=x", "a=x,x=a"),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            "this-is-a-dns.domain.com/key-with-dash",
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
        ),
        // `in` and `notin` are plain words where a key or value is expected.
        ("notin=in", "notin=in"),
        ("in in (in)", "in in (in)"),
    ];
    for (input, want) in cases {
        let s = Selector::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(s.to_string(), want, "{input:?}");
    }
}

#[test]
fn parse_errors_match_upstream_wording() {
    let cases = [
        ("x==a==b", "found '==', expected: ',' or 'end of string'".to_string()),
        ("!x=a", "found '=', expected: ',' or 'end of string'".to_string()),
        ("x=a b", "found 'b', expected: ',' or 'end of string'".to_string()),
        ("x=a,", "found '', expected: identifier after ','".to_string()),
        (",x", "found ',', expected: !, identifier, or 'end of string'".to_string()),
        ("=x", "found '=', expected: !, identifier, or 'end of string'".to_string()),
        (
            "x<a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer".to_string(),
        ),
        (
            "x>",
            "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer".to_string(),
        ),
        (
            "x=a||y=b",
            format!("unable to parse requirement: values[0][x]: Invalid value: \"a||y\": {LABEL_VALUE_MSG}"),
        ),
        (
            "app=-x",
            format!("unable to parse requirement: values[0][app]: Invalid value: \"-x\": {LABEL_VALUE_MSG}"),
        ),
        (
            // Values are sorted before validation: "-b" is values[0].
            "k in (z,-b)",
            format!("unable to parse requirement: values[0][k]: Invalid value: \"-b\": {LABEL_VALUE_MSG}"),
        ),
        (
            // Two errors for one value: aggregated in brackets.
            "x>-1a",
            format!(
                "unable to parse requirement: [values[0]: Invalid value: \"-1a\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][x]: Invalid value: \"-1a\": {LABEL_VALUE_MSG}]"
            ),
        ),
        (
            // Upstream validates the key with a nil path, printed `<nil>`.
            "-x=y",
            format!("unable to parse requirement: <nil>: Invalid value: \"-x\": {NAME_PART_MSG}"),
        ),
        (
            "/-",
            format!("unable to parse requirement: <nil>: Invalid value: \"/-\": prefix part must be non-empty; {NAME_PART_MSG}"),
        ),
        ("x in a", "unable to parse requirement: found 'a' expected: '('".to_string()),
        ("x in (a b)", "unable to parse requirement: found 'b', expected: ',' or ')'".to_string()),
        ("x in (a", "unable to parse requirement: found '', expected: ',' or ')'".to_string()),
        ("x in (a,=)", "unable to parse requirement: found '=', expected: ',', or identifier".to_string()),
        ("x in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier".to_string()),
        (
            "x (a)",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt".to_string(),
        ),
        ("x=(", "unable to parse requirement: found '(', expected: identifier".to_string()),
        ("!", "unable to parse requirement: found '', expected: identifier".to_string()),
        ("!!x", "unable to parse requirement: found '!', expected: identifier".to_string()),
    ];
    for (input, want) in cases {
        match Selector::parse(input) {
            Ok(s) => panic!("{input:?} parsed as {s}"),
            Err(e) => assert_eq!(e.to_string(), want, "{input:?}"),
        }
    }
}

#[test]
fn matches_labels_as_upstream() {
    // (selector, labels, matches)
    let cases = [
        ("", json!({"x": "y"}), true),
        ("x=y", json!({"x": "y"}), true),
        ("x=y,z=w", json!({"x": "y", "z": "w"}), true),
        ("x!=y,z!=w", json!({"x": "z", "z": "a"}), true),
        ("notin=in", json!({"notin": "in"}), true),
        ("x", json!({"x": "z"}), true),
        ("!x", json!({"y": "z"}), true),
        ("x>1", json!({"x": "2"}), true),
        ("x<1", json!({"x": "0"}), true),
        ("x=", json!({"x": ""}), true),
        ("x in (a,b)", json!({"x": "b"}), true),
        ("x notin (a,b)", json!({}), true),
        ("x!=y", json!({}), true),
        ("x=z", json!({}), false),
        ("x=", json!({}), false),
        ("x=y", json!({"x": "z"}), false),
        ("x=y,z=w", json!({"x": "w", "z": "w"}), false),
        ("x!=y,z!=w", json!({"x": "z", "z": "w"}), false),
        ("x", json!({"y": "z"}), false),
        ("!x", json!({"x": "z"}), false),
        ("x>1", json!({"x": "0"}), false),
        ("x<1", json!({"x": "2"}), false),
        ("x>1", json!({"x": "two"}), false),
        ("x>1", json!({}), false),
        ("x in (a,b)", json!({"x": "c"}), false),
        ("x notin (a,b)", json!({"x": "a"}), false),
        (
            "foo=bar,foobar=bar,baz=blah",
            json!({"foo": "bar", "baz": "blah"}),
            false,
        ),
    ];
    for (sel, ls, want) in cases {
        let s = Selector::parse(sel).unwrap_or_else(|e| panic!("{sel:?}: {e}"));
        assert_eq!(s.matches(&labels(ls.clone())), want, "{sel:?} on {ls}");
        let obj = json!({"metadata": {"labels": ls}});
        assert_eq!(s.matches_object(&obj), want, "{sel:?} on object");
    }
    // An object without labels has none.
    let s = Selector::parse("!x").unwrap_or_default();
    assert!(s.matches_object(&json!({"metadata": {}})));
}

#[test]
fn empty_everything_and_nothing() {
    assert!(Selector::parse("").unwrap_or_default().is_empty());
    assert!(Selector::everything().matches(&Map::new()));
    let nothing = Selector::nothing();
    assert!(!nothing.is_empty());
    assert!(!nothing.matches(&Map::new()));
    assert_eq!(nothing.to_string(), "");
}

#[test]
fn requires_exact_match() {
    let s = Selector::parse("a=1,b in (2),c in (3,4),d!=5,e").unwrap_or_default();
    assert_eq!(s.requires_exact_match("a"), Some("1"));
    assert_eq!(s.requires_exact_match("b"), Some("2"));
    assert_eq!(s.requires_exact_match("c"), None);
    assert_eq!(s.requires_exact_match("d"), None);
    assert_eq!(s.requires_exact_match("e"), None);
    assert_eq!(s.requires_exact_match("z"), None);
}

#[test]
fn from_map_is_sorted_equality() {
    let s = Selector::from_map(&labels(json!({"b": "2", "a": "1"})));
    assert_eq!(s.to_string(), "a=1,b=2");
    assert!(s.matches(&labels(json!({"a": "1", "b": "2", "c": "3"}))));
    assert!(Selector::from_map(&Map::new()).is_empty());
}

#[test]
fn converts_metav1_label_selector() {
    let null = Selector::from_label_selector_json(&Value::Null).unwrap_or_default();
    assert!(null.is_nothing());
    let empty =
        Selector::from_label_selector_json(&json!({})).unwrap_or_else(|_| Selector::nothing());
    assert!(empty.is_empty());

    let s = Selector::from_label_selector_json(&json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["b", "a"]},
            {"key": "canary", "operator": "DoesNotExist"},
            {"key": "env", "operator": "NotIn", "values": ["prod"]},
            {"key": "zone", "operator": "Exists"},
        ]
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        s.to_string(),
        "app=web,!canary,env notin (prod),tier in (a,b),zone"
    );
    assert!(s.matches(&labels(
        json!({"app": "web", "tier": "a", "zone": "z1", "env": "dev"})
    )));
    assert!(!s.matches(&labels(json!({"app": "web", "tier": "c", "zone": "z1"}))));
    assert!(!s.matches(&labels(
        json!({"app": "web", "tier": "a", "zone": "z1", "canary": ""})
    )));
}

#[test]
fn metav1_label_selector_conversion_errors() {
    let cases = [
        (
            json!({"matchExpressions": [{"key": "k", "operator": "Foo"}]}),
            "\"Foo\" is not a valid label selector operator".to_string(),
        ),
        (
            json!({"matchExpressions": [{"key": "k", "operator": "In"}]}),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty".to_string(),
        ),
        (
            json!({"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["a"]}]}),
            "values: Invalid value: []string{\"a\"}: values set must be empty for exists and does not exist".to_string(),
        ),
        (
            json!({"matchLabels": {"a": "-x"}}),
            format!("values[0][a]: Invalid value: \"-x\": {LABEL_VALUE_MSG}"),
        ),
        (
            json!({"matchLabels": {"-k": "-x"}}),
            format!(
                "[key: Invalid value: \"-k\": {NAME_PART_MSG}, values[0][-k]: Invalid value: \"-x\": {LABEL_VALUE_MSG}]"
            ),
        ),
    ];
    for (sel, want) in cases {
        match Selector::from_label_selector_json(&sel) {
            Ok(s) => panic!("{sel} converted to {s}"),
            Err(e) => assert_eq!(e.to_string(), want, "{sel}"),
        }
    }
}

#[test]
fn requirement_new_validates_counts() {
    let err = Requirement::new("x", Operator::Equals, vec!["b".into(), "a".into()]);
    assert_eq!(
        err.map_err(|e| e.to_string()),
        Err("values: Invalid value: []string{\"b\", \"a\"}: exact-match compatibility requires one single value".to_string())
    );
    let gt = Requirement::new("x", Operator::GreaterThan, vec![]);
    assert_eq!(
        gt.map_err(|e| e.to_string()),
        Err("values: Invalid value: []string(nil): for 'Gt', 'Lt' operators, exactly one value is required".to_string())
    );
    let ok = Requirement::new("x", Operator::In, vec!["b".into(), "a".into()]);
    assert_eq!(ok.map(|r| r.to_string()), Ok("x in (a,b)".to_string()));
}

#[test]
fn validates_metav1_label_selector_with_paths() {
    let opts = ValidationOptions::default();
    let cases = [
        (json!(null), vec![]),
        (json!({"matchLabels": {"app": "web"}}), vec![]),
        (
            json!({"matchExpressions": [{"key": "k", "operator": "In"}]}),
            vec!["spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'".to_string()],
        ),
        (
            json!({"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["a"]}]}),
            vec!["spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'".to_string()],
        ),
        (
            json!({"matchExpressions": [{"key": "k", "operator": "Bad", "values": ["-a"]}]}),
            vec![
                "spec.selector.matchExpressions[0].operator: Invalid value: \"Bad\": not a valid selector operator".to_string(),
                format!("spec.selector.matchExpressions[0].values[0]: Invalid value: \"-a\": {LABEL_VALUE_MSG}"),
            ],
        ),
        (
            json!({"matchLabels": {"a b": "c"}, "matchExpressions": [{"key": "", "operator": "DoesNotExist"}]}),
            vec![
                format!("spec.selector.matchLabels: Invalid value: \"a b\": {NAME_PART_MSG}"),
                "spec.selector.matchExpressions[0].key: Invalid value: \"\": name part must be non-empty".to_string(),
                format!("spec.selector.matchExpressions[0].key: Invalid value: \"\": {NAME_PART_MSG}"),
            ],
        ),
    ];
    for (sel, want) in cases {
        let got: Vec<String> = validate_label_selector(&sel, opts, "spec.selector")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, want, "{sel}");
    }
    let lenient = ValidationOptions {
        allow_invalid_label_value_in_selector: true,
        allow_unknown_operator_in_requirement: true,
    };
    let sel = json!({"matchExpressions": [{"key": "k", "operator": "Bad", "values": ["-a"]}]});
    assert!(validate_label_selector(&sel, lenient, "spec.selector").is_empty());
}
