-- Tables the document worker reads and writes. Idempotent: safe to apply to a database that already has them.
-- A document moves uploaded -> processing -> processed | failed; the worker owns every transition after upload.
-- run_id tags rows created by a verification run so they can be found and removed afterwards.

CREATE TABLE IF NOT EXISTS users (
    id          serial PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    full_name   text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    run_id      text
);

CREATE TABLE IF NOT EXISTS documents (
    id                 bigserial PRIMARY KEY,
    user_id            integer REFERENCES users (id) ON DELETE CASCADE,
    s3_key             text NOT NULL,
    original_filename  text,
    status             text NOT NULL DEFAULT 'uploaded'
                       CHECK (status IN ('uploaded', 'processing', 'processed', 'failed')),
    document_type      text,
    confidence         double precision CHECK (confidence BETWEEN 0 AND 1),
    fields             jsonb,
    error              text,
    run_id             text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    processed_at       timestamptz
);

-- "How many documents are stuck?" is the question that found the incident; answer it without a table scan.
CREATE INDEX IF NOT EXISTS documents_status_idx ON documents (status);
CREATE INDEX IF NOT EXISTS documents_run_id_idx ON documents (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS users_run_id_idx ON users (run_id) WHERE run_id IS NOT NULL;
