-- Applied idempotently at start-up by EmbeddingCache.connect(); {schema} is the configured schema.
CREATE SCHEMA IF NOT EXISTS {schema};

-- Content-hash cache: an unchanged chunk is never embedded twice, by any worker. Kept per tenant
-- (`scope` is the tenant, or '*' for tenants configured to share), so a tenant whose text is found
-- in the cache learns nothing about other tenants. (It replaces the former, shared embedding_cache.)
CREATE TABLE IF NOT EXISTS {schema}.embedding_vectors (
    scope        text  NOT NULL,
    model        text  NOT NULL,
    content_hash text  NOT NULL,
    vector       bytea NOT NULL,
    PRIMARY KEY (scope, model, content_hash)
);
