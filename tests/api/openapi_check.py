"""Checks JSON responses against engine/openapi.yaml: the subset of OpenAPI 3
schema keywords the document uses (type, required, properties,
additionalProperties, enum, items, oneOf, $ref, pattern, minimum/maximum)."""
import decimal
import os
import re

import yaml

SPEC_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "openapi.yaml")


def load_spec():
    with open(SPEC_PATH) as f:
        return yaml.safe_load(f)


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        node = spec
        for p in path:
            node = node[p]
    return node


def validate(spec, schema, value, where="$"):
    """Returns a list of violations (empty when `value` conforms)."""
    schema = resolve(spec, schema)
    errors = []
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not validate(spec, s, value, where)]
        if len(matches) != 1:
            errors.append("%s: matches %d of oneOf" % (where, len(matches)))
        return errors
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return ["%s: %r is not an integer" % (where, value)]
    elif t == "number":
        if not isinstance(value, (int, float, decimal.Decimal)) or isinstance(value, bool):
            return ["%s: %r is not a number" % (where, value)]
    elif t in types and not isinstance(value, types[t]):
        return ["%s: %r is not %s" % (where, value, t)]
    if "enum" in schema and value not in schema["enum"]:
        errors.append("%s: %r not in %r" % (where, value, schema["enum"]))
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append("%s: %r does not match %s" % (where, value, schema["pattern"]))
    if "minimum" in schema and isinstance(value, (int, float, decimal.Decimal)) and value < schema["minimum"]:
        errors.append("%s: %r below minimum" % (where, value))
    if "maximum" in schema and isinstance(value, (int, float, decimal.Decimal)) and value > schema["maximum"]:
        errors.append("%s: %r above maximum" % (where, value))
    if isinstance(value, dict):
        for r in schema.get("required", []):
            if r not in value:
                errors.append("%s: missing required %s" % (where, r))
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errors += validate(spec, props[k], v, "%s.%s" % (where, k))
            elif schema.get("additionalProperties") is False:
                errors.append("%s: unexpected property %s" % (where, k))
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += validate(spec, schema["additionalProperties"], v, "%s.%s" % (where, k))
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += validate(spec, schema["items"], v, "%s[%d]" % (where, i))
    return errors


def response_schema(spec, path_template, method, status):
    op = spec["paths"][path_template][method.lower()]
    responses = op["responses"]
    resp = resolve(spec, responses.get(str(status)))
    if resp is None:
        raise AssertionError("%s %s: status %s is not documented" % (method, path_template, status))
    content = resp.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    return resp, (media or {}).get("schema")


def check(spec, path_template, method, status, headers, body):
    """Asserts that a real response conforms to the document."""
    resp, schema = response_schema(spec, path_template, method, status)
    for h in resp.get("headers", {}):
        assert h.lower() in headers, "%s %s %s: header %s missing" % (method, path_template, status, h)
    if schema is not None and schema.get("type") != "string":
        errors = validate(spec, schema, body)
        assert not errors, "%s %s %s: %s" % (method, path_template, status, errors)
