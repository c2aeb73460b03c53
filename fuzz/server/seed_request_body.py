"""Writes the seed corpus of the request_body fuzz target from the OpenAPI document: for every
route, an input that picks it (byte 0 = its index in the document's routes sorted by path, then
method, as the target sorts them), a real token and real ids (byte 1 = 0), an empty path
segment and query, and a body built from the route's request schema (required fields only, and
every field). Run it again when routes change:

    python fuzz/seed_request_body.py http://127.0.0.1:PORT/openapi.json   (or a saved file)
"""
import json
import os
import sys
import urllib.request

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "request_body")


def load(location):
    if location.startswith("http"):
        with urllib.request.urlopen(location, timeout=10) as r:
            return json.load(r)
    with open(location) as f:
        return json.load(f)


def example(doc, schema, every, depth=0):
    if depth > 6 or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return example(doc, doc["components"]["schemas"][name], every, depth + 1)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return example(doc, options[0], every, depth + 1) if options else None
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        return {
            name: example(doc, sub, every, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if every or name in required
        }
    if kind == "array":
        item = example(doc, schema.get("items", {}), every, depth + 1)
        return [] if item is None else [item]
    if kind == "string":
        return {"email": "seed@example.com", "date-time": "2030-01-01T00:00:00Z", "uri": "https://example.com/hook"}.get(
            schema.get("format"), "Seed name")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return None


def main():
    doc = load(sys.argv[1])
    routes = sorted((path, method.upper()) for path, item in doc["paths"].items() for method in item
                    if method in ("get", "post", "put", "delete", "patch"))
    os.makedirs(OUT, exist_ok=True)
    written = 0
    for index, (path, method) in enumerate(routes):
        op = doc["paths"][path][method.lower()]
        content = (op.get("requestBody") or {}).get("content", {})
        schema = next(iter(content.values()), {}).get("schema") if content else None
        bodies = [b""] if schema is None else [
            json.dumps(example(doc, schema, every)).encode() for every in (False, True)]
        for n, body in enumerate(dict.fromkeys(bodies)):
            name = f"{method.lower()}{path.replace('/', '_').replace('{', '').replace('}', '')}-{n}"
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(bytes([index % 256, 0]) + b"\xff\xff" + body)
            written += 1
    print(f"{written} seeds for {len(routes)} routes in {OUT}")


if __name__ == "__main__":
    main()
