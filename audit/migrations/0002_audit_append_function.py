"""audit_append(): lock the chain heads, number and hash the events, write them and move the heads,
in one statement (audit.services.audit_record_many).

An append holds its chain head from the lock to its commit, so every other append to that chain
waits that long. Done from Python it was three steps under the lock: the SELECT … FOR UPDATE, the
hashing in the client, then the INSERT; on a busy host each return to the client waited its turn
for a CPU while the head stayed locked. Here the server does all of it without a round trip, and
the lock is held for this statement and the COMMIT.

The canonical form is still defined and serialised in Python (audit.canonical.canonical_parts):
each event arrives as three pieces of its canonical JSON (c0, c1, c2) around the two values only
the locked head decides, occurred_at and seq, and is hashed here as
sha256(prev_hash || c0 || occurred_at || c1 || seq || c2), which is audit.canonical.chain_hash of
canonical_bytes. Events arrive grouped by chain in key order, which is the lock order.
"""

from django.db import migrations

CREATE = r"""
CREATE FUNCTION audit_append(p_now timestamptz, p_genesis text, p_events jsonb)
RETURNS TABLE (o_id bigint, o_chain varchar, o_seq bigint, o_at timestamptz, o_prev varchar, o_hash varchar)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    v_seqs bigint[] := '{}';
    v_ats timestamptz[] := '{}';
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
    v_event jsonb;
    v_key text := NULL;
    v_seq bigint;
    v_prev text;
    v_at timestamptz;
    v_ts text;
BEGIN
    FOR v_event IN SELECT value FROM jsonb_array_elements(p_events) LOOP
        IF v_key IS DISTINCT FROM v_event ->> 'chain_key' THEN
            IF v_key IS NOT NULL THEN
                UPDATE audit_auditchain SET head_seq = v_seq, head_hash = v_prev, head_at = v_at WHERE key = v_key;
            END IF;
            v_key := v_event ->> 'chain_key';
            -- Lock the head; a chain's first event creates it (ON CONFLICT: when another first
            -- append of the same chain gets there first, this one waits for it, then locks its row).
            SELECT head_seq, head_hash, head_at INTO v_seq, v_prev, v_at FROM audit_auditchain WHERE key = v_key FOR UPDATE;
            IF NOT FOUND THEN
                INSERT INTO audit_auditchain (key, head_seq, head_hash) VALUES (v_key, 0, p_genesis) ON CONFLICT (key) DO NOTHING;
                SELECT head_seq, head_hash, head_at INTO v_seq, v_prev, v_at FROM audit_auditchain WHERE key = v_key FOR UPDATE;
            END IF;
            -- Time never runs backwards inside a chain (clock skew between app servers).
            v_at := greatest(p_now, coalesce(v_at, p_now));
            v_ts := to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
        END IF;
        v_seq := v_seq + 1;
        v_seqs := v_seqs || v_seq;
        v_ats := v_ats || v_at;
        v_prevs := v_prevs || v_prev;
        v_prev := encode(sha256(convert_to(
            v_prev || (v_event ->> 'c0') || v_ts || (v_event ->> 'c1') || v_seq::text || (v_event ->> 'c2'), 'UTF8')), 'hex');
        v_hashes := v_hashes || v_prev;
    END LOOP;
    IF v_key IS NOT NULL THEN
        UPDATE audit_auditchain SET head_seq = v_seq, head_hash = v_prev, head_at = v_at WHERE key = v_key;
    END IF;
    RETURN QUERY
    WITH written AS (
        INSERT INTO audit_auditevent (chain_key, seq, occurred_at, actor_type, actor_id, actor_label, action, entity_type,
                                      entity_id, tenant_id, site_code, payload, prev_hash, hash)
        SELECT r.chain_key, s.seq, s.at, r.actor_type, r.actor_id, r.actor_label, r.action, r.entity_type, r.entity_id,
               r.tenant_id, r.site_code, r.payload, s.prev, s.hash
        FROM ROWS FROM (jsonb_to_recordset(p_events) AS (chain_key text, actor_type text, actor_id text, actor_label text,
                 action text, entity_type text, entity_id text, tenant_id bigint, site_code text, payload jsonb))
             WITH ORDINALITY AS r(chain_key, actor_type, actor_id, actor_label, action, entity_type, entity_id, tenant_id,
                 site_code, payload, i)
        JOIN unnest(v_seqs, v_ats, v_prevs, v_hashes) WITH ORDINALITY AS s(seq, at, prev, hash, i) ON s.i = r.i
        RETURNING id, chain_key, seq, occurred_at, prev_hash, hash
    )
    SELECT * FROM written;
END
$fn$;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(CREATE, reverse_sql="DROP FUNCTION audit_append(timestamptz, text, jsonb);")]
