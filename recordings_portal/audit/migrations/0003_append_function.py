"""On PostgreSQL an append is one call: lock the chain, read its tip, insert the linked event.

The chain's lock serialises every append in the portal, so what it covers is kept to work on
the server: no round trip to the client while it is held. audit.log.record() computes the
canonical JSON of the event (the hard part, defined once in verify_file.py) and passes it as
`payload`; the function links it: hash = sha256(prev_hash || payload), as link_hash() does.
A VOLATILE function's statements each take a fresh snapshot, so the tip is read after the lock
is held and sees the previous append, committed before it released the lock.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_accessevent_append(
    p_at timestamptz, p_actor_id integer, p_actor_username text, p_action text,
    p_object_type text, p_object_id text, p_outcome text, p_ip inet, p_user_agent text,
    p_details jsonb, p_payload bytea, p_commit_without_waiting boolean, p_lock_key bigint,
    p_genesis text
) RETURNS TABLE (id bigint, prev_hash text, hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tip text;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- A snapshot older than the lock would read a stale tip and fork the chain.
        RAISE EXCEPTION 'audit_accessevent_append needs READ COMMITTED, not %',
            current_setting('transaction_isolation');
    END IF;
    IF p_commit_without_waiting THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM pg_advisory_xact_lock(p_lock_key);
    SELECT e.hash INTO tip FROM audit_accessevent e ORDER BY e.id DESC LIMIT 1;
    tip := coalesce(tip, p_genesis);
    RETURN QUERY
        INSERT INTO audit_accessevent AS e (
            at, actor_id, actor_username, action, object_type, object_id, outcome, ip,
            user_agent, details, prev_hash, hash
        ) VALUES (
            p_at, p_actor_id, p_actor_username, p_action, p_object_type, p_object_id,
            p_outcome, p_ip, p_user_agent, p_details, tip,
            encode(sha256(convert_to(tip, 'UTF8') || p_payload), 'hex')
        )
        RETURNING e.id, e.prev_hash::text, e.hash::text;
END;
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS audit_accessevent_append(
    timestamptz, integer, text, text, text, text, text, inet, text, jsonb, bytea, boolean,
    bigint, text
);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [migrations.RunPython(forwards, backwards)]
