-- Applied idempotently at start-up by EmbeddingCache.connect(); {schema} is the configured schema.
CREATE SCHEMA IF NOT EXISTS {schema};

-- Content-hash cache: an unchanged chunk is never embedded twice, by any worker.
CREATE TABLE IF NOT EXISTS {schema}.embedding_cache (
    model        text  NOT NULL,
    content_hash text  NOT NULL,
    vector       bytea NOT NULL,
    PRIMARY KEY (model, content_hash)
);
