-- Applied idempotently at start-up; {schema} is the registry's own schema (settings
-- schema_registry.pg_schema), shared by every ragstream deployment that uses this registry.
CREATE SCHEMA IF NOT EXISTS {schema};

-- One row per distinct schema text (normalised JSON): its id is the id written into records.
CREATE TABLE IF NOT EXISTS {schema}.schemas (
    id          serial      PRIMARY KEY,
    schema_type text        NOT NULL DEFAULT 'AVRO',
    normalized  text        NOT NULL UNIQUE,
    schema_text text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The versions of a subject; a soft-deleted version keeps its id resolvable.
CREATE TABLE IF NOT EXISTS {schema}.subject_versions (
    subject    text        NOT NULL,
    version    integer     NOT NULL,
    schema_id  integer     NOT NULL REFERENCES {schema}.schemas (id),
    deleted    boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, version)
);
CREATE INDEX IF NOT EXISTS subject_versions_schema ON {schema}.subject_versions (schema_id);

-- Compatibility level per subject; subject '' is the global default.
CREATE TABLE IF NOT EXISTS {schema}.config (
    subject       text PRIMARY KEY,
    compatibility text NOT NULL
);
