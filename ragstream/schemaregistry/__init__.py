"""A Confluent-compatible schema registry for the local stack (subset of the REST API, Avro only).

Apicurio Registry could not be assembled from the Maven Central artifacts this project can reach
(see docs/schema-registry.md), and no other registry server is installable here, so the stack runs
this one: the subjects, versions, global ids, compatibility levels and error codes of Confluent's
API, which `confluent_kafka.schema_registry` and Kafka's Java serdes speak, stored in PostgreSQL, and
the calls of Apicurio's v2 API that Apicurio's Kafka Connect converter makes (`apicurio`).
"""
