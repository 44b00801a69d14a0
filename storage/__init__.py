"""PostgreSQL (psycopg 3, pgvector) and S3 (minio SDK) persistence.

Never imports `capture` or `recognition`: `lanecap` wires them together.
"""
