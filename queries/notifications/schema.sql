-- Webhooks: subscriptions, their signing secrets, the outbox of deliveries and every attempt.
-- Applied idempotently at start-up (after the registry's schema); {schema} is the configured schema.
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {schema}.webhook_subscriptions (
    id           text        PRIMARY KEY,
    tenant       text        NOT NULL,
    url          text        NOT NULL,
    events       text[]      NOT NULL,
    description  text        NOT NULL DEFAULT '',
    active       boolean     NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text        NOT NULL DEFAULT '',
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_subscriptions_tenant ON {schema}.webhook_subscriptions (tenant);

-- The secrets a delivery is signed with: the current one (expires_at NULL) and, during a rotation,
-- the previous one until it expires. Stored sealed (ragstream.queries.notifications.vault).
CREATE TABLE IF NOT EXISTS {schema}.webhook_secrets (
    subscription_id text        NOT NULL REFERENCES {schema}.webhook_subscriptions (id) ON DELETE CASCADE,
    secret_id       int         NOT NULL,
    sealed          text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    PRIMARY KEY (subscription_id, secret_id)
);

-- The outbox: one row per notice and subscription. A subscription's deliveries for one document go
-- out in id order (log order): only the oldest unfinished one of a (subscription, document) is due.
-- waiting: for the read models to hold `version`; pending: due at next_attempt_at; delivered;
-- dead: given up after the last attempt (replayable); expired: the read models never held it.
CREATE TABLE IF NOT EXISTS {schema}.webhook_deliveries (
    id              bigserial   PRIMARY KEY,
    subscription_id text        NOT NULL REFERENCES {schema}.webhook_subscriptions (id) ON DELETE CASCADE,
    tenant          text        NOT NULL,
    notice_id       text        NOT NULL,
    kind            text        NOT NULL,
    document_id     text        NOT NULL DEFAULT '',
    version         bigint,
    body            jsonb       NOT NULL,
    state           text        NOT NULL CHECK (state IN ('waiting', 'pending', 'delivered', 'dead', 'expired')),
    attempts        int         NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    finished_at     timestamptz,
    last_status     int,
    last_error      text        NOT NULL DEFAULT '',
    UNIQUE (subscription_id, notice_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_queue
    ON {schema}.webhook_deliveries (subscription_id, document_id, id) WHERE state IN ('waiting', 'pending');
CREATE INDEX IF NOT EXISTS webhook_deliveries_waiting
    ON {schema}.webhook_deliveries (tenant, document_id) WHERE state = 'waiting';
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON {schema}.webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_log
    ON {schema}.webhook_deliveries (subscription_id, id);

-- Versions dead-lettered on their way to the read models: a notice waiting for one is given up.
CREATE TABLE IF NOT EXISTS {schema}.webhook_ended_waits (
    tenant      text        NOT NULL,
    document_id text        NOT NULL,
    version     bigint      NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, document_id, version)
);

-- The delivery log: every attempt and what the endpoint answered.
CREATE TABLE IF NOT EXISTS {schema}.webhook_attempts (
    id           bigserial   PRIMARY KEY,
    delivery_id  bigint      NOT NULL REFERENCES {schema}.webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at timestamptz NOT NULL DEFAULT now(),
    status       int,
    error        text        NOT NULL DEFAULT '',
    duration_ms  real        NOT NULL,
    response     text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON {schema}.webhook_attempts (delivery_id, id);

-- The state Kafka Connect last reported for each connector, so a failure is notified once, by the
-- worker whose poll saw it change.
CREATE TABLE IF NOT EXISTS {schema}.connector_states (
    connector   text        PRIMARY KEY,
    state       text        NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
