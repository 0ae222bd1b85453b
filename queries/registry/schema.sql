-- Applied idempotently at start-up by RegistryStore.connect(); {schema} is the configured schema.
CREATE SCHEMA IF NOT EXISTS {schema};

CREATE TABLE IF NOT EXISTS {schema}.documents (
    tenant          text        NOT NULL,
    document_id     text        NOT NULL,
    version         bigint      NOT NULL,
    status          text        NOT NULL CHECK (status IN ('active', 'deleted')),
    title           text        NOT NULL DEFAULT '',
    content_type    text        NOT NULL DEFAULT '',
    content_hash    text        NOT NULL DEFAULT '',
    metadata        jsonb       NOT NULL DEFAULT '{}',
    acl             text[]      NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    updated_by      text        NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, document_id)
);

-- Every command and its outcome, in log order: the audit trail. 'failed': accepted (or not yet
-- decided) but dead-lettered on its way to the read models, so that version is never searchable.
CREATE TABLE IF NOT EXISTS {schema}.audit_log (
    id               bigserial   PRIMARY KEY,
    tenant           text        NOT NULL,
    document_id      text        NOT NULL,
    command_id       text        NOT NULL,
    event_id         text        NOT NULL UNIQUE,
    event_type       text        NOT NULL,
    outcome          text        NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'failed')),
    reason           text        NOT NULL DEFAULT '',
    version          bigint,
    actor            text        NOT NULL,
    source           jsonb       NOT NULL DEFAULT '{}',
    event_time       timestamptz NOT NULL,
    recorded_time    timestamptz NOT NULL,
    command_position text        NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_log_document ON {schema}.audit_log (tenant, document_id, id);
-- A table made before 'failed' existed gets the wider check once (looked up first, so a start-up
-- does not take the table's lock and re-check every row each time).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '{schema}.audit_log'::regclass
               AND conname = 'audit_log_outcome_check' AND pg_get_constraintdef(oid) NOT LIKE '%failed%') THEN
        ALTER TABLE {schema}.audit_log DROP CONSTRAINT audit_log_outcome_check;
        ALTER TABLE {schema}.audit_log ADD CONSTRAINT audit_log_outcome_check
            CHECK (outcome IN ('accepted', 'rejected', 'failed'));
    END IF;
END $$;

-- Which version each read model holds of each document (written by the index projections).
CREATE TABLE IF NOT EXISTS {schema}.read_model_versions (
    tenant       text        NOT NULL,
    document_id  text        NOT NULL,
    read_model   text        NOT NULL,
    version      bigint      NOT NULL,
    deleted      boolean     NOT NULL DEFAULT false,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, document_id, read_model)
);

-- Offsets applied by projections that write here, stored in the same transaction as their data.
CREATE TABLE IF NOT EXISTS {schema}.projection_offsets (
    projection  text   NOT NULL,
    topic       text   NOT NULL,
    partition   int    NOT NULL,
    "offset"    bigint NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);

-- The stream workers' projection into server read models (OpenSearch, Qdrant server): the version
-- each document has there and the command positions applied, committed in one transaction after
-- the indexes were flushed (offsets go to projection_offsets under projection 'shared-indexes').
CREATE TABLE IF NOT EXISTS {schema}.shared_index_versions (
    tenant       text    NOT NULL,
    document_id  text    NOT NULL,
    version      bigint  NOT NULL,
    deleted      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant, document_id)
);

CREATE TABLE IF NOT EXISTS {schema}.shared_index_positions (
    partition int    PRIMARY KEY,
    "offset"  bigint NOT NULL
);
