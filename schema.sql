-- All DDL of the gateway. Safe to apply again: every statement is idempotent.
-- Applied under an advisory lock (paygate.database.apply_schema) so processes starting together do not race.

-- ---------------------------------------------------------------- event store (the truth)

CREATE TABLE IF NOT EXISTS streams (
    stream_id text PRIMARY KEY,
    version   integer NOT NULL CHECK (version > 0)
);

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

-- One wake-up per appending transaction: PostgreSQL folds identical notifications within a transaction.
CREATE OR REPLACE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('events', '');
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE OR REPLACE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
CREATE OR REPLACE TRIGGER events_wake_readers AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- Checkpoints of the log followers (projection runner, dispatcher), written in the same transaction as
-- their effects.
CREATE TABLE IF NOT EXISTS checkpoints (
    name       text PRIMARY KEY,
    tx_id      xid8 NOT NULL,
    position   bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- read models (derived; rebuildable)

CREATE TABLE IF NOT EXISTS merchants (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    email          text NOT NULL UNIQUE,
    api_key        text NOT NULL UNIQUE,
    api_secret     text NOT NULL,
    webhook_url    text,
    webhook_secret text NOT NULL,
    webhook_events text[] NOT NULL DEFAULT '{}',
    is_active      boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
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
