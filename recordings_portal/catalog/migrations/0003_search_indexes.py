"""Indexes for the search page on PostgreSQL; nothing on SQLite (small catalogs, plain scans).

- A GIN trigram index on the free-text expression: `UPPER(expr) LIKE UPPER('%term%')` for a
  term of 3+ characters is answered from it. The expression must stay exactly what
  catalog.selectors.SearchText renders (tests/catalog/test_search.py checks the plan).
- external_id alone: short terms are matched whole against caller, callee, vendor_call_id
  (indexed on the model) and external_id (only the (account, external_id) constraint had it).
- direction and lower(format): the two filters without an index on the model. Few distinct
  values, so they matter for the rare ones (an "unknown" direction, an uncommon format), whose
  capped count would otherwise read the whole table to find that there are fewer than the cap.

Account, state, start and duration have their btree indexes in Recording.Meta.indexes.
Built CONCURRENTLY (so outside a transaction): on a large catalog, ingest goes on meanwhile.
pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
"""

from django.db import migrations

SEARCH_EXPRESSION = (
    "UPPER(caller || ' ' || callee || ' ' || vendor_call_id || ' ' || external_id || ' ' || "
    "(participants)::text || ' ' || "
    "(jsonb_path_query_array(metadata, "
    """'strict $.** ? (@.type() != "object" && @.type() != "array")'))::text)"""
)

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS recording_search_trgm ON catalog_recording "
    f"USING gin (({SEARCH_EXPRESSION}) gin_trgm_ops)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS recording_external_id_idx "
    "ON catalog_recording (external_id)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS recording_direction_idx "
    "ON catalog_recording (direction)",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS recording_format_idx "
    "ON catalog_recording (lower(format))",
]
BACKWARD = [
    "DROP INDEX CONCURRENTLY IF EXISTS recording_search_trgm",
    "DROP INDEX CONCURRENTLY IF EXISTS recording_external_id_idx",
    "DROP INDEX CONCURRENTLY IF EXISTS recording_direction_idx",
    "DROP INDEX CONCURRENTLY IF EXISTS recording_format_idx",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("catalog", "0002_download_claims"),
    ]

    operations = [
        migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False),
    ]
