-- All DDL of the gateway. Safe to apply again: every statement is idempotent.
-- Applied under an advisory lock (paygate.database.apply_schema) so processes starting together do not race.

-- ---------------------------------------------------------------- event store (the truth)

CREATE TABLE IF NOT EXISTS streams (
    stream_id text PRIMARY KEY,
    version   integer NOT NULL CHECK (version > 0)
);
-- The transaction that wrote the stream's last version. Readers follow transaction ids, so a writer whose
-- transaction is older must not append after it (ledger/store.py refuses it as a concurrency conflict).
ALTER TABLE streams ADD COLUMN IF NOT EXISTS tx_id xid8 NOT NULL DEFAULT '0';

CREATE TABLE IF NOT EXISTS events (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction's id: readers follow (tx_id, position) below the snapshot xmin so that an
    -- event whose transaction took an early position but committed late is never skipped.
    tx_id          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       uuid NOT NULL UNIQUE,
    stream_id      text NOT NULL,
    stream_version integer NOT NULL,
    type           text NOT NULL,
    data           jsonb NOT NULL,
    metadata       jsonb NOT NULL DEFAULT '{}',
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_commit_order ON events (tx_id, position);

CREATE OR REPLACE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE OR REPLACE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
-- perf: no NOTIFY in the appending transaction (every such commit queued on the notify lock); appenders send
-- a coalesced wake-up after commit instead (ledger/wakeups.py).
DROP TRIGGER IF EXISTS events_wake_readers ON events;
DROP FUNCTION IF EXISTS events_notify();

-- Tamper evidence (ledger/chain.py): the chainer's record of each committed event in commit order. `hash` is
-- sha256(prev hash || canonical bytes), `leaf` the event's RFC 6962 Merkle leaf hash (README, "Audit").
CREATE TABLE IF NOT EXISTS event_chain (
    chain_seq  bigint PRIMARY KEY CHECK (chain_seq > 0),
    position   bigint NOT NULL UNIQUE,
    hash       bytea NOT NULL CHECK (length(hash) = 32),
    leaf       bytea NOT NULL CHECK (length(leaf) = 32),
    chained_at timestamptz NOT NULL DEFAULT now()
);

-- Checkpoints of the log followers (projection runner, dispatcher), written in the same transaction as
-- their effects.
CREATE TABLE IF NOT EXISTS checkpoints (
    name       text PRIMARY KEY,
    tx_id      xid8 NOT NULL,
    position   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- reliability: the epoch of the leader that may move this checkpoint (a fencing token, bumped on each takeover).
ALTER TABLE checkpoints ADD COLUMN IF NOT EXISTS epoch bigint NOT NULL DEFAULT 0;

-- ---------------------------------------------------------------- read models (derived; rebuildable)

CREATE TABLE IF NOT EXISTS merchants (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    email          text NOT NULL UNIQUE,
    api_key        text NOT NULL UNIQUE,
    webhook_url    text,
    webhook_events text[] NOT NULL DEFAULT '{}',
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- Secrets at rest: a keyed hash of the API secret for look-ups, and the secrets the gateway must use as
-- ciphertext under the merchant's data key (merchant_keys). The previous key pair of a rotation keeps working
-- until previous_key_expires_at. An older database's plain api_secret/webhook_secret columns are sealed and
-- dropped at start-up (api/migrate.py); here they only lose NOT NULL so new rows can be written meanwhile.
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS api_secret_hash text;
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS api_secret_sealed text;
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS webhook_secret_sealed text;
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS previous_api_key text;
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS previous_secret_hash text;
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS previous_key_expires_at timestamptz;
-- The origins that may frame the merchant's checkout (empty: any); sent as CSP frame-ancestors.
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS checkout_origins text[] NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX IF NOT EXISTS merchants_by_previous_key ON merchants (previous_api_key);
DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
               AND table_name = 'merchants' AND column_name = 'api_secret') THEN
        ALTER TABLE merchants ALTER COLUMN api_secret DROP NOT NULL, ALTER COLUMN webhook_secret DROP NOT NULL;
        IF NOT EXISTS (SELECT 1 FROM merchants WHERE api_secret IS NOT NULL OR webhook_secret IS NOT NULL) THEN
            ALTER TABLE merchants DROP COLUMN api_secret, DROP COLUMN webhook_secret;
        END IF;
    END IF;
END $$;

-- Not derived from the log, and never rebuilt: each merchant's data key, wrapped with the server key.
-- Deleting a row forgets that merchant's secrets (crypto-shredding) while the log still reads.
CREATE TABLE IF NOT EXISTS merchant_keys (
    merchant_id uuid PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orders (
    id          text PRIMARY KEY,
    merchant_id uuid NOT NULL,
    amount      bigint NOT NULL,
    currency    text NOT NULL,
    receipt     text,
    notes       jsonb NOT NULL DEFAULT '{}',
    status      text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_merchant ON orders (merchant_id, created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS payments (
    id                text PRIMARY KEY,
    order_id          text NOT NULL,
    merchant_id       uuid NOT NULL,
    amount            bigint NOT NULL,
    currency          text NOT NULL,
    method            text NOT NULL,
    status            text NOT NULL,
    vpa               text,
    card_network      text,
    card_last4        text,
    error_code        text,
    error_description text,
    captured          boolean NOT NULL DEFAULT false,
    amount_refunded   bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_by_merchant ON payments (merchant_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS payments_by_order ON payments (order_id);
CREATE INDEX IF NOT EXISTS payments_pending ON payments (created_at) WHERE status = 'pending';

-- Async projection: per-merchant payment figures for the dashboard.
CREATE TABLE IF NOT EXISTS payment_stats (
    merchant_id    uuid PRIMARY KEY,
    total_count    bigint NOT NULL DEFAULT 0,
    success_count  bigint NOT NULL DEFAULT 0,
    failed_count   bigint NOT NULL DEFAULT 0,
    success_amount bigint NOT NULL DEFAULT 0
);

-- Inline projection: refunds of payments (their events live in the payment's stream).
CREATE TABLE IF NOT EXISTS refunds (
    id           text PRIMARY KEY,
    payment_id   text NOT NULL,
    merchant_id  uuid NOT NULL,
    amount       bigint NOT NULL,
    currency     text NOT NULL,
    reason       text,
    status       text NOT NULL,
    created_at   timestamptz NOT NULL,
    processed_at timestamptz
);
CREATE INDEX IF NOT EXISTS refunds_by_payment ON refunds (payment_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS refunds_by_merchant ON refunds (merchant_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS refunds_pending ON refunds (created_at) WHERE status = 'pending';
-- A refund's notes (Razorpay's), added later: older refunds have none.
ALTER TABLE refunds ADD COLUMN IF NOT EXISTS notes jsonb NOT NULL DEFAULT '{}';

-- Async projection: the double-entry book. Each entry's debit lines equal its credit lines in its currency;
-- an entry's id is derived from (event id, leg), so replaying an event can never post it twice.
CREATE TABLE IF NOT EXISTS ledger_entries (
    id          uuid PRIMARY KEY,
    event_id    uuid NOT NULL,
    leg         text NOT NULL,
    position    bigint NOT NULL,
    merchant_id uuid NOT NULL,
    currency    text NOT NULL,
    kind        text NOT NULL,
    payment_id  text NOT NULL,
    refund_id   text,
    occurred_at timestamptz NOT NULL,
    UNIQUE (event_id, leg)
);
CREATE INDEX IF NOT EXISTS ledger_entries_by_merchant ON ledger_entries (merchant_id, position DESC, leg);
CREATE INDEX IF NOT EXISTS ledger_entries_by_payment ON ledger_entries (payment_id);

CREATE TABLE IF NOT EXISTS ledger_lines (
    entry_id uuid NOT NULL,
    account  text NOT NULL,
    debit    bigint NOT NULL DEFAULT 0 CHECK (debit >= 0),
    credit   bigint NOT NULL DEFAULT 0 CHECK (credit >= 0),
    PRIMARY KEY (entry_id, account)
);

-- Running totals of ledger_lines per account and currency, moved in the same transaction as the lines.
CREATE TABLE IF NOT EXISTS ledger_balances (
    account  text NOT NULL,
    currency text NOT NULL,
    debit    bigint NOT NULL DEFAULT 0,
    credit   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account, currency)
);

-- A merchant's money figures per currency, kept beside the book by the same projection (what GET
-- /api/v1/balance shows): successful payments, captured, refunds pending and processed.
CREATE TABLE IF NOT EXISTS merchant_balances (
    merchant_id       uuid NOT NULL,
    currency          text NOT NULL,
    succeeded         bigint NOT NULL DEFAULT 0,
    captured          bigint NOT NULL DEFAULT 0,
    refunds_pending   bigint NOT NULL DEFAULT 0,
    refunds_processed bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, currency)
);

-- Sums are numeric, not bigint: a sum over a merchant's whole history must never overflow and stop the
-- projection (orders are capped by MAX_ORDER_AMOUNT too). Guarded so applying the file again changes nothing.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT table_name, column_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND data_type = 'bigint' AND (table_name, column_name) IN (
                 ('payment_stats', 'success_amount'), ('ledger_balances', 'debit'), ('ledger_balances', 'credit'),
                 ('merchant_balances', 'succeeded'), ('merchant_balances', 'captured'),
                 ('merchant_balances', 'refunds_pending'), ('merchant_balances', 'refunds_processed'))
    LOOP
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE numeric', c.table_name, c.column_name);
    END LOOP;
END $$;

-- Dashboard sign-in: the merchant's argon2 password hash (from merchant.password_set.v1; never shown).
ALTER TABLE merchants ADD COLUMN IF NOT EXISTS password_hash text;

-- Async projection: per-merchant, per-day (UTC, the payment's creation day) figures for the dashboard's chart.
CREATE TABLE IF NOT EXISTS payment_daily_stats (
    merchant_id    uuid NOT NULL,
    day            date NOT NULL,
    total_count    bigint NOT NULL DEFAULT 0,
    success_count  bigint NOT NULL DEFAULT 0,
    failed_count   bigint NOT NULL DEFAULT 0,
    success_amount numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (merchant_id, day)
);

-- Not derived from the log: dashboard sessions. Only a SHA-256 of each session token is kept, so a copy of
-- this table signs nobody in.
CREATE TABLE IF NOT EXISTS dashboard_sessions (
    token_hash  text PRIMARY KEY,
    merchant_id uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- ---------------------------------------------------------------- quarantine (not derived from the log)
-- Events a log follower (projection or dispatcher) could not handle, set aside so the follower goes on;
-- `paygate quarantine retry` applies them again after a fix and deletes the row on success.
CREATE TABLE IF NOT EXISTS quarantined_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    follower       text NOT NULL,
    event_id       uuid NOT NULL,
    position       bigint NOT NULL,
    event_type     text NOT NULL,
    error          text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    quarantined_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (follower, event_id)
);

-- ---------------------------------------------------------------- idempotency (not derived from the log)
-- The API's record of answered requests per (merchant, Idempotency-Key), written in the same transaction as
-- the command's events: the objects a request created and the answer that names them commit together.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    merchant_id     uuid NOT NULL,
    key             text NOT NULL,
    request_method  text NOT NULL,
    request_path    text NOT NULL,
    request_hash    text NOT NULL,
    response_status integer NOT NULL,
    response_body   bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);

-- The delivery log's rows were the table webhook_logs before webhook_logs became the view of them (below).
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_class WHERE oid = to_regclass('webhook_logs') AND relkind = 'r') THEN
        ALTER TABLE webhook_logs RENAME TO webhook_deliveries;
        ALTER INDEX webhook_logs_pkey RENAME TO webhook_deliveries_pkey;
        ALTER INDEX IF EXISTS webhook_logs_by_merchant RENAME TO webhook_deliveries_by_merchant;
        ALTER INDEX IF EXISTS webhook_logs_due RENAME TO webhook_deliveries_due;
    END IF;
END $$;

-- Inline projection: one row per webhook delivery (stream webhook-{id}). `version` is the delivery stream's
-- version, which names the attempt a queued message is for, so a stale or duplicated message finds the stream
-- moved on. The exact bytes every attempt sends are not copied here: they are in the delivery's scheduling
-- event, and the view webhook_logs (below) reads them from there.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id              uuid PRIMARY KEY,
    merchant_id     uuid NOT NULL,
    event           text NOT NULL,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_attempt_at timestamptz,
    next_retry_at   timestamptz,
    response_code   integer,
    response_body   text,
    created_at      timestamptz NOT NULL,
    last_error      text,
    source_event_id uuid,
    version         integer NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_merchant ON webhook_deliveries (merchant_id, created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (next_retry_at, id) WHERE status = 'pending';
-- The body's parsed copy (now the view's payload).
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS payload;
-- Attempts in flight are leases (workers/leases.py), no longer events on the delivery's stream.
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS attempt_started_at;
-- perf: every attempt's update wrote the body again (PostgreSQL writes a whole new row version for an update).
ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS body;

-- The delivery log as merchants, evaluators and readers see it: each delivery with `body`, the exact bytes every
-- attempt sends, and `payload`, the same parsed, both read from the delivery's scheduling event (version 1 of its
-- stream). Subqueries, not a join: a row's body is one probe of the events' (stream_id, stream_version) index,
-- whatever the planner thinks of a young table's size, and a query that names neither column reads no event.
CREATE OR REPLACE VIEW webhook_logs AS
    SELECT d.id, d.merchant_id, d.event,
           (SELECT (e.data->>'body')::jsonb FROM events e
            WHERE e.stream_id = 'webhook-' || d.id::text AND e.stream_version = 1) AS payload,
           d.status, d.attempts, d.last_attempt_at, d.next_retry_at, d.response_code, d.response_body,
           d.created_at, d.last_error, d.source_event_id, d.version, d.updated_at,
           (SELECT e.data->>'body' FROM events e
            WHERE e.stream_id = 'webhook-' || d.id::text AND e.stream_version = 1) AS body
    FROM webhook_deliveries d;

-- Webhook attempts in flight: the delivery stream's version each was claimed at, and when. Coordination only, so
-- UNLOGGED: no write-ahead log, and emptied after a crash, when none of its attempts is in flight any more.
CREATE UNLOGGED TABLE IF NOT EXISTS webhook_leases (
    delivery_id uuid PRIMARY KEY,
    version     integer NOT NULL,
    started_at  timestamptz NOT NULL
);

-- ---------------------------------------------------------------- schema bookkeeping
-- Digests of schema.sql texts already applied: processes skip an unchanged schema at start-up.
CREATE TABLE IF NOT EXISTS schema_applied (
    digest     text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- the application role
-- The application connects through this role (SET ROLE): it may read and append events, never change them.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'paygate_app') THEN
        CREATE ROLE paygate_app NOLOGIN;
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO paygate_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO paygate_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO paygate_app;
REVOKE UPDATE, DELETE, TRUNCATE ON events FROM paygate_app;
REVOKE UPDATE, DELETE, TRUNCATE ON event_chain FROM paygate_app;
