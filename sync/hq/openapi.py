"""/openapi.json: HQ's routes for terminals, described from the contract's JSON Schema (schemas/)."""

from __future__ import annotations

from typing import Any

from schemas.records import json_schemas


def openapi_document() -> dict:
    # The schema files refer to their own `#/$defs/...`; in OpenAPI those live under components.
    schemas = {name.removesuffix(".schema.json"): _components_refs(schema) for name, schema in json_schemas().items()}
    components: dict = {}
    for schema in schemas.values():
        components.update(schema.get("$defs", {}))
    refs = {name: {"$ref": f"#/components/schemas/{_top(schema)}"} for name, schema in schemas.items()}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Associate Terminal HQ", "version": "1"},
        "components": {
            "schemas": components,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "paths": _openapi_paths(refs),
    }


def _openapi_paths(refs: dict[str, dict]) -> dict:
    """The routes a terminal calls, with what each answers (the dashboard is for people, not described)."""
    error = {"description": "see the message", "content": {"application/json": {"schema": refs["error"]}}}
    bearer: list[dict[str, list[str]]] = [{"token": []}]
    encoding = {"name": "Content-Encoding", "in": "header", "required": False,
                "schema": {"type": "string", "enum": ["gzip", "identity"]}}  # fmt: skip
    etag = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"}}
    return {
        "/v1/health": {
            "get": {
                "summary": "Is HQ up and its database reachable",
                "responses": {"200": {"description": "ok"}, "503": error},
            }
        },
        "/v1/whoami": {
            "get": {
                "summary": "The store and terminal this token belongs to",
                "security": bearer,
                "responses": {
                    "200": {"description": "who", "content": {"application/json": {"schema": refs["whoami"]}}},
                    "401": error,
                },
            }
        },
        "/v1/taxonomy": {
            "get": {
                "summary": "The published taxonomy pack; send If-None-Match with the last ETag",
                "security": bearer,
                "parameters": [etag],
                "responses": {"200": {"description": "the pack (JSON)"}, "304": {"description": "unchanged"}, "401": error},
            }
        },
        "/v1/batches": {
            "post": {
                "summary": "Send a batch of records (gzip JSON); one result per record",
                "security": bearer,
                "parameters": [encoding],
                "requestBody": {"required": True, "content": {"application/json": {"schema": refs["batch"]}}},
                "responses": {
                    "200": {"description": "results", "content": {"application/json": {"schema": refs["batch_result"]}}},
                    **{code: error for code in ("400", "401", "403", "413", "415", "422", "503")},
                },
            }
        },
        **_pull_paths(refs, error, bearer),
    }


def _pull_paths(refs: dict[str, dict], error: dict, bearer: list[dict[str, list[str]]]) -> dict:
    """What a terminal pulls after sending (sync/hq/pull.py)."""
    return {
        "/v1/responses": {
            "get": {
                "summary": "HQ's answers about demand groups changed after the cursor `after`, oldest change first, "
                "as the token's store sees them; send the page's `cursor` as the next `after` while `more`",
                "security": bearer,
                "parameters": [
                    _query("after", "the cursor of the last page applied; 0 for the first", 0, 2**63 - 1, 0),
                    _query("limit", "answers per page at most", 1, 1000, 500),
                ],
                "responses": {
                    "200": {"description": "one page", "content": {"application/json": {"schema": refs["responses"]}}},
                    **{code: error for code in ("400", "401", "503")},
                },
            }
        },
        "/v1/store-demand": {
            "get": {
                "summary": "The token's store's unmet asks per demand group over the last 7 and 30 days, every terminal counted",
                "security": bearer,
                "responses": {
                    "200": {"description": "the counts", "content": {"application/json": {"schema": refs["store_demand"]}}},
                    **{code: error for code in ("401", "503")},
                },
            }
        },
    }


def _query(name: str, description: str, minimum: int, maximum: int, default: int) -> dict:
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum, "default": default}
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _top(schema: dict) -> str:
    return schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else "Unknown"


def _components_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: value.replace("#/$defs/", "#/components/schemas/", 1)
            if key == "$ref" and isinstance(value, str)
            else _components_refs(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_components_refs(item) for item in node]
    return node
