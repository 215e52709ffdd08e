"""The projection worker: Kafka in, one PostgreSQL transaction per batch out."""
