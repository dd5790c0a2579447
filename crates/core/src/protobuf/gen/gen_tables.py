#!/usr/bin/env python3
"""Generates ../table.rs: the protobuf schema of every built-in Kubernetes
type, joined with the Go JSON encoding of the same struct.

Inputs are the upstream source trees at one tag (v0.33.13 for Kubernetes
v1.33): kubernetes/api, kubernetes/apimachinery,
kubernetes/apiextensions-apiserver and kubernetes/kube-aggregator. For every
package directory that holds a `generated.proto`:

* the `.proto` gives messages, field numbers and wire types;
* the Go files next to it (`types.go`, ...) give what protobuf does not: the
  JSON name, `omitempty`, `,inline`, whether the Go field is a pointer (set vs
  zero value), which structs are kinds (embed `metav1.TypeMeta`) and the API
  group (`GroupName` in `register.go`).

Fields are joined on the field number, which the Go struct tag
`protobuf:"bytes,1,opt,name=..."` repeats.

Rerun (from the repository root):

    for r in api apimachinery apiextensions-apiserver kube-aggregator; do
      git clone -q --depth 1 --branch v0.33.13 \
        https://github.com/kubernetes/$r /tmp/pbsrc/$r
    done
    python3 crates/core/src/protobuf/gen/gen_tables.py /tmp/pbsrc \
      > crates/core/src/protobuf/table.rs

The output is rustfmt-stable (the tables carry `#[rustfmt::skip]`). The script
stops with an error when a message has no matching Go struct or field, so a
new upstream shape is noticed rather than guessed.
"""

import os
import re
import sys

TAG = "v0.33.13"

# Messages whose Go type has its own JSON encoding (MarshalJSON) or is a Go
# slice wrapped in a message: the decoder handles them by hand.
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "Time",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "MicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "Duration",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "RawJson",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "Quantity",
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": "Quantity",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "IntOrString",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "RawExtension",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON": "Json",
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1beta1.JSON": "Json",
}
for v in ("v1", "v1beta1"):
    p = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions." + v + "."
    SPECIAL[p + "JSONSchemaPropsOrArray"] = "SchemaOrArray"
    SPECIAL[p + "JSONSchemaPropsOrBool"] = "SchemaOrBool"
    SPECIAL[p + "JSONSchemaPropsOrStringArray"] = "SchemaOrStringArray"

SCALARS = {
    "string": "Str",
    "bytes": "Bytes",
    "int32": "I32",
    "int64": "I64",
    "uint32": "U32",
    "uint64": "U64",
    "sint32": "S32",
    "sint64": "S64",
    "bool": "Bool",
    "double": "F64",
    "float": "F32",
    "fixed32": "Fx32",
    "fixed64": "Fx64",
    "sfixed32": "Sfx32",
    "sfixed64": "Sfx64",
}


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def parse_proto(path):
    text = strip_comments(open(path).read())
    package = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.M).group(1)
    messages = []
    for m in re.finditer(r"\bmessage\s+(\w+)\s*\{(.*?)\n\}", text, re.S):
        name, body = m.group(1), m.group(2)
        if re.search(r"\b(message|enum|oneof)\s+\w+\s*\{", body):
            raise SystemExit(f"{path}: {name}: nested declarations are not supported")
        fields = []
        for line in body.split(";"):
            line = line.strip()
            if not line:
                continue
            fm = re.fullmatch(
                r"map\s*<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)(\s*\[.*\])?", line
            )
            if fm:
                fields.append(
                    dict(label="map", key=fm.group(1), type=fm.group(2), name=fm.group(3), num=int(fm.group(4)))
                )
                continue
            fm = re.fullmatch(r"(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)(\s*\[.*\])?", line)
            if not fm:
                raise SystemExit(f"{path}: {name}: cannot parse field {line!r}")
            fields.append(dict(label=fm.group(1), type=fm.group(2), name=fm.group(3), num=int(fm.group(4))))
        messages.append((name, fields))
    return package, messages


TAG_RE = re.compile(r'(\w+):"([^"]*)"')


def parse_go(directory):
    """Go structs of a package: name -> (embeds TypeMeta, {number: info}, order)."""
    structs, slices, group, aliases = {}, set(), None, {}
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".go") or fname.endswith("_test.go") or fname.startswith("zz_generated"):
            continue
        if fname.startswith("generated."):
            continue
        text = open(os.path.join(directory, fname)).read()
        g = re.search(r'^const GroupName = "([^"]*)"', text, re.M)
        if g:
            group = g.group(1)
        for m in re.finditer(r"^type (\w+) \[\](\w+)\s*$", text, re.M):
            slices.add(m.group(1))
        imports = dict(
            (a or p.rsplit("/", 1)[-1], p) for a, p in re.findall(r'^\s*(\w+)?\s*"(k8s\.io/[^"]+)"', text, re.M)
        )
        for m in re.finditer(r"^type (\w+) (\w+)\.(\w+)\s*$", text, re.M):
            if m.group(2) in imports:
                aliases[m.group(1)] = (imports[m.group(2)], m.group(3))
        for m in re.finditer(r"^type (\w+) struct\{\}", text, re.M):
            structs[m.group(1)] = (False, {})
        for m in re.finditer(r"^type (\w+) struct \{\n(.*?)^\}", text, re.S | re.M):
            name, body = m.group(1), m.group(2)
            kind = False
            fields = {}
            for raw in body.split("\n"):
                line = raw.strip()
                if not line or line.startswith("//"):
                    continue
                tm = re.fullmatch(r"([^`]*?)\s*`([^`]*)`(\s*//.*)?", line)
                decl, tag = (tm.group(1), tm.group(2)) if tm else (re.sub(r"//.*", "", line).strip(), "")
                parts = decl.split()
                if len(parts) == 1:
                    gotype = parts[0]
                    if gotype in ("metav1.TypeMeta", "TypeMeta", "runtime.TypeMeta"):
                        kind = True
                elif len(parts) == 2:
                    gotype = parts[1]
                else:
                    continue
                tags = dict(TAG_RE.findall(tag))
                if "protobuf" not in tags or tags["protobuf"] == "-":
                    continue
                num = int(tags["protobuf"].split(",")[1])
                js = tags.get("json", "")
                jparts = js.split(",")
                jname = jparts[0] or (parts[0] if len(parts) == 2 else gotype.split(".")[-1].lstrip("*"))
                fields[num] = dict(
                    json=jname,
                    skip=jparts[0] == "-" or js == "",
                    omitempty="omitempty" in jparts[1:],
                    # encoding/json inlines an embedded struct unless its tag names it.
                    inline="inline" in jparts[1:] or (len(parts) == 1 and jparts[0] == ""),
                    pointer=gotype.startswith("*"),
                )
                if js == "":
                    # No json tag: encoding/json uses the Go field name.
                    fields[num]["skip"] = False
                    fields[num]["json"] = parts[0] if len(parts) == 2 else gotype.split(".")[-1].lstrip("*")
                if jparts[0] == "-":
                    fields[num]["skip"] = True
            structs[name] = (kind, fields)
    return structs, slices, group, aliases


def import_dir(root, path):
    """Directory of a Go import path inside the source trees."""
    for repo in ("api", "apimachinery", "apiextensions-apiserver", "kube-aggregator"):
        prefix = "k8s.io/" + repo + "/"
        if path.startswith(prefix):
            return os.path.join(root, repo, path[len(prefix) :])
    raise SystemExit("import outside the source trees: " + path)


def main():
    root = sys.argv[1]
    packages = []  # (proto package, dir, messages, structs, slices, group, version)
    for repo in ("api", "apimachinery", "apiextensions-apiserver", "kube-aggregator"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, repo)):
            dirnames.sort()
            if "generated.proto" not in filenames:
                continue
            rel = os.path.relpath(dirpath, root)
            if "testapigroup" in rel or "/testdata" in rel or "/internal" in rel:
                continue
            pkg, messages = parse_proto(os.path.join(dirpath, "generated.proto"))
            structs, slices, group, aliases = parse_go(dirpath)
            for name, (path, target) in aliases.items():
                # `type MatchCondition v1.MatchCondition`: same fields, same tags.
                structs.setdefault(name, parse_go(import_dir(root, path))[0][target])
            packages.append((pkg, rel, messages, structs, slices, group, os.path.basename(dirpath)))

    index = {}
    order = []
    for pkg, _, messages, *_ in packages:
        for name, _ in messages:
            index[pkg + "." + name] = len(order)
            order.append(pkg + "." + name)

    out = []
    w = out.append
    w("// @generated by crates/core/src/protobuf/gen/gen_tables.py from the")
    w(f"// generated.proto and Go types of kubernetes/api, kubernetes/apimachinery,")
    w(f"// kubernetes/apiextensions-apiserver and kubernetes/kube-aggregator at {TAG}.")
    w("// Do not edit: rerun the generator (see the instructions at its top).")
    w("")
    w("use super::schema::Scalar::*;")
    w("use super::schema::{Field, Kind, Message, Special, Ty};")
    w("use super::schema::{INLINE, OMIT, PTR, REP, SKIP, m, s};")
    w("")
    w("/// Every message, indexed by `Ty::Message`.")
    w("#[rustfmt::skip]")
    w("#[allow(clippy::identity_op)]")
    w("pub(super) static MESSAGES: &[Message] = &[")
    kinds = []
    for pkg, rel, messages, structs, slices, group, version in packages:
        for name, fields in messages:
            full = pkg + "." + name
            special = SPECIAL.get(full)
            kind, gofields = structs.get(name, (False, {}))
            if special is None and name in slices:
                if [f["num"] for f in fields] != [1] or fields[0]["label"] != "repeated":
                    raise SystemExit(f"{full}: slice type with unexpected message shape")
                special = "List"
            if special is None and name not in structs:
                raise SystemExit(f"{full}: no Go struct in {rel}")
            if kind and group is not None:
                api_version = f"{group}/{version}" if group else version
                kinds.append((api_version, name, index[full]))
            rows = []
            for f in fields:
                info = gofields.get(f["num"])
                if info is None:
                    if special is None:
                        raise SystemExit(f"{full}.{f['name']}: no Go field with number {f['num']}")
                    info = dict(json=f["name"], skip=False, omitempty=False, inline=False, pointer=False)
                ty = ty_expr(f["type"], pkg, index, full)
                flags = []
                if f["label"] == "map":
                    # Enum constructors, not the helper fns, so that `&` is promoted to 'static.
                    value = ty.replace("s(", "Ty::Scalar(").replace("m(", "Ty::Message(")
                    ty = f"Ty::Map({SCALARS[f['key']]}, &{value})"
                elif f["label"] == "repeated":
                    flags.append("REP")
                if info["omitempty"]:
                    flags.append("OMIT")
                if info["pointer"]:
                    flags.append("PTR")
                if info["inline"]:
                    flags.append("INLINE")
                if info["skip"]:
                    flags.append("SKIP")
                fl = "|".join(flags) or "0"
                rows.append(f'Field::new({f["num"]}, "{info["json"]}", {ty}, {fl})')
            sp = f"Special::{special}" if special else "Special::None"
            w(f'    /* {index[full]} */ Message {{ name: "{full}", special: {sp}, fields: &[')
            for r in rows:
                w(f"        {r},")
            w("    ] },")
    w("];")
    w("")
    kinds.sort()
    w("/// Kinds by (apiVersion, kind), sorted for binary search.")
    w("#[rustfmt::skip]")
    w("pub(super) static KINDS: &[Kind] = &[")
    for av, k, i in kinds:
        w(f'    Kind {{ api_version: "{av}", kind: "{k}", message: {i} }},')
    w("];")
    print("\n".join(out))


def ty_expr(t, pkg, index, where):
    if t in SCALARS:
        return f"s({SCALARS[t]})"
    full = t[1:] if t.startswith(".") else pkg + "." + t
    if full not in index:
        raise SystemExit(f"{where}: unknown type {t}")
    return f"m({index[full]})"


if __name__ == "__main__":
    main()
