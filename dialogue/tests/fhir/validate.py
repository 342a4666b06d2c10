"""Validates FHIR R4 JSON files with two independent validators and prints one JSON line per file.

1. fhir.resources 6.4.0 (pydantic models of FHIR R4): types, required elements, references.
2. The official FHIR R4 JSON schema (draft-06): property names, enumerated codes, formats.

Usage: validate.py SCHEMA.json FILE.json...
"""
import json
import sys

import jsonschema
from fhir.resources.bundle import Bundle


def main() -> None:
    schema = json.load(open(sys.argv[1], encoding="utf-8"))
    validator = jsonschema.Draft6Validator(schema)
    for path in sys.argv[2:]:
        data = json.load(open(path, encoding="utf-8"))
        models, schema_errors = [], []
        try:
            Bundle.parse_obj(data)
        except Exception as e:  # noqa: BLE001 - every failure is a finding
            models.append(str(e).replace("\n", " ")[:500])
        for err in list(validator.iter_errors(data))[:5]:
            # oneOf failures nest the real reason; report the deepest one.
            best = jsonschema.exceptions.best_match([err])
            schema_errors.append(f"{best.message[:300]} at {'/'.join(map(str, best.absolute_path))}")
        print(json.dumps({"file": path, "fhir_resources": models, "json_schema": schema_errors}))


if __name__ == "__main__":
    main()
