"""`python -m schemas` rewrites the checked-in JSON Schema files from records.py."""

import json
from pathlib import Path

from schemas.records import json_schemas

for name, schema in json_schemas().items():
    path = Path(__file__).with_name(name)
    path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path}")
