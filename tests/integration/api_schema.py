"""Validates API responses against docs/api/openapi.yaml (Swagger 2.0 definitions, draft 4)."""
import copy
import re

import jsonschema
import yaml

from conftest import ROOT

SPEC_PATH = ROOT / "docs" / "api" / "openapi.yaml"


def _nullable(node):
    """Swagger's x-nullable as JSON Schema: type [T, "null"] or anyOf [$ref, null]."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if node.pop("x-nullable", False):
        if "$ref" in node:
            return {"anyOf": [{"$ref": node["$ref"]}, {"type": "null"}]}
        if "type" in node:
            node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = node["enum"] + [None]
    return node


class Spec:
    def __init__(self):
        self.doc = yaml.safe_load(SPEC_PATH.read_text())
        self.definitions = _nullable(copy.deepcopy(self.doc["definitions"]))
        self.templates = []
        for tmpl in self.doc["paths"]:
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", tmpl) + "$"
            self.templates.append((re.compile(rx), tmpl))

    def operation(self, method, path):
        path = re.sub(r"^http://[^/]*", "", path)
        while path:
            for rx, tmpl in self.templates:
                if rx.match(path):
                    return self.doc["paths"][tmpl].get(method.lower())
            path = path.rpartition("/")[0]  # brasa, like Firecracker, ignores extra tokens
        return None

    def validate(self, method, path, status, body):
        """Every answer must be documented: a 204 without body, or a body matching its schema."""
        op = self.operation(method, path)
        if status >= 400 or op is None:
            # Errors (and unknown paths/methods) always carry an Error object.
            schema = {"$ref": "#/definitions/Error"}
        else:
            responses = op["responses"]
            spec = responses.get(status) or responses.get(str(status))
            assert spec is not None, f"{method} {path}: status {status} is not documented"
            if "schema" not in spec:
                assert body is None, f"{method} {path}: {status} must have no body, got {body!r}"
                return
            schema = _nullable(spec["schema"])
        assert body is not None, f"{method} {path}: {status} needs a body"
        jsonschema.Draft4Validator({**schema, "definitions": self.definitions}).validate(body)


SPEC = Spec()
