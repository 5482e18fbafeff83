#!/usr/bin/env python3
"""The tests' independent JSON Schema validator: Python jsonschema, draft 2020-12, formats
asserted (date-time needs rfc3339-validator). One request per line on stdin, one answer per
line on stdout, so that one process serves a whole test binary (tests/common/schema.rs).

    request: {"schema": "status_position", "payload": "<the payload's text>"}
    answer:  {"ok": true}  or  {"ok": false, "error": "<where: what>"}

Usage: validate.py SCHEMA_DIR   (every SCHEMA_DIR/<name>.schema.json, and the official VDA 5050
schemas SCHEMA_DIR/vda5050/<version>/<name>.schema as "vda5050/<version>/<name>", each checked
against the metaschema at start)
"""
import json
import sys
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

SUFFIX = ".schema.json"
# The official VDA 5050 schemas, as shipped (draft 2020-12; order.schema refers to
# `#/definitions/...`, which resolves as a plain JSON pointer).
VDA = "vda5050/*/*.schema"


def load(directory):
    """Every schema in the directory, compiled, by name."""
    files = [(f, f.name[: -len(SUFFIX)]) for f in sorted(Path(directory).glob("*" + SUFFIX))]
    files += [
        (f, "/".join(f.relative_to(directory).with_suffix("").parts))
        for f in sorted(Path(directory).glob(VDA))
    ]
    validators = {}
    for f, name in files:
        schema = json.loads(f.read_text())
        Draft202012Validator.check_schema(schema)
        validators[name] = Draft202012Validator(schema, format_checker=FormatChecker())
    return validators


def not_json(constant):
    raise ValueError(f"{constant} is not JSON")


def answer(validators, request):
    """The verdict on one request."""
    validator = validators.get(request.get("schema"))
    if validator is None:
        return {"ok": False, "error": f"no schema named {request.get('schema')!r}"}
    try:
        instance = json.loads(request["payload"], parse_constant=not_json)
    except (ValueError, RecursionError) as e:
        return {"ok": False, "error": f"not JSON: {e}"}
    errors = list(validator.iter_errors(instance))
    if not errors:
        return {"ok": True}
    e = best_match(errors)
    text = describe(e)
    if e.context:
        # oneOf/anyOf: the deepest error of any branch says most (`parameters/speed: ...`).
        deepest = max(e.context, key=lambda c: len(c.absolute_path))
        text += f"; closest: {describe(deepest)}"
    return {"ok": False, "error": f"{text} ({len(errors)} error(s))"}


def describe(e):
    where = "/".join(str(p) for p in e.absolute_path) or "(the payload)"
    message = e.message if len(e.message) < 300 else e.message[:300] + "..."
    return f"{where}: {message}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    validators = load(sys.argv[1])
    # A checker that cannot check date-time would let any timestamp pass.
    if FormatChecker().conforms("yesterday", "date-time"):
        sys.exit("validate.py: date-time is not checked: pip install rfc3339-validator")
    print(json.dumps({"ready": sorted(validators)}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(answer(validators, json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
