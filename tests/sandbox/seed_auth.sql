-- GoTrue's (Supabase Auth's) session, token, MFA and audit tables, with the column names, types and foreign
-- keys its migrations create (supabase/auth migrations/), and seed data: sessions with refresh tokens, MFA
-- factors, and an audit trail over the last days that holds a credential-stuffing burst (one address, many
-- accounts signed in within minutes) and an MFA brute force (one address, many verification attempts).
-- Loaded after seed.sql (auth.users); idempotent per database.

DO $$ BEGIN
  CREATE TYPE auth.factor_type AS ENUM ('totp', 'webauthn', 'phone');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DO $$ BEGIN
  CREATE TYPE auth.factor_status AS ENUM ('unverified', 'verified');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DO $$ BEGIN
  CREATE TYPE auth.aal_level AS ENUM ('aal1', 'aal2', 'aal3');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS auth.sessions (
  id uuid NOT NULL CONSTRAINT sessions_pkey PRIMARY KEY,
  user_id uuid NOT NULL CONSTRAINT sessions_user_id_fkey REFERENCES auth.users (id) ON DELETE CASCADE,
  created_at timestamptz,
  updated_at timestamptz,
  factor_id uuid,
  aal auth.aal_level,
  not_after timestamptz,
  refreshed_at timestamp without time zone,
  user_agent text,
  ip inet,
  tag text,
  oauth_client_id uuid,
  refresh_token_hmac_key text,
  refresh_token_counter bigint,
  scopes text CONSTRAINT sessions_scopes_length CHECK (char_length(scopes) <= 4096)
);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON auth.sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_not_after_idx ON auth.sessions (not_after DESC);

CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
  instance_id uuid,
  id bigserial NOT NULL CONSTRAINT refresh_tokens_pkey PRIMARY KEY,
  token varchar(255) CONSTRAINT refresh_tokens_token_unique UNIQUE,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255),
  session_id uuid CONSTRAINT refresh_tokens_session_id_fkey REFERENCES auth.sessions (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS refresh_tokens_instance_id_user_id_idx ON auth.refresh_tokens (instance_id, user_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_parent_idx ON auth.refresh_tokens (parent);
CREATE INDEX IF NOT EXISTS refresh_tokens_session_id_revoked_idx ON auth.refresh_tokens (session_id, revoked);

CREATE TABLE IF NOT EXISTS auth.mfa_factors (
  id uuid NOT NULL CONSTRAINT mfa_factors_pkey PRIMARY KEY,
  user_id uuid NOT NULL CONSTRAINT mfa_factors_user_id_fkey REFERENCES auth.users (id) ON DELETE CASCADE,
  friendly_name text,
  factor_type auth.factor_type NOT NULL,
  status auth.factor_status NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  secret text,
  phone text UNIQUE DEFAULT NULL,
  last_challenged_at timestamptz UNIQUE DEFAULT NULL,
  web_authn_credential jsonb,
  web_authn_aaguid uuid,
  last_webauthn_challenge_data jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS mfa_factors_user_friendly_name_unique ON auth.mfa_factors (friendly_name, user_id)
  WHERE trim(friendly_name) <> '';
CREATE INDEX IF NOT EXISTS mfa_factors_user_id_idx ON auth.mfa_factors (user_id);

CREATE TABLE IF NOT EXISTS auth.audit_log_entries (
  instance_id uuid,
  id uuid NOT NULL CONSTRAINT audit_log_entries_pkey PRIMARY KEY,
  payload json,
  created_at timestamptz,
  ip_address varchar(64) NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_logs_instance_id_idx ON auth.audit_log_entries (instance_id);

-- Seed data (only into empty tables) ----------------------------------------------------------------
-- Everyday sessions: users 1-10, one or two devices each, from ordinary addresses.
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent, ip)
SELECT extensions.gen_random_uuid(), u.id, now() - (d || ' hours')::interval, now() - interval '5 minutes', 'aal1',
       (now() - interval '5 minutes')::timestamp, 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15',
       ('198.51.100.' || n)::inet
FROM (SELECT id, row_number() OVER (ORDER BY email) AS n FROM auth.users
      WHERE email IN ('user1@example.com', 'user2@example.com', 'user3@example.com', 'user4@example.com',
                      'user5@example.com', 'user6@example.com', 'user7@example.com', 'user8@example.com',
                      'user9@example.com', 'user10@example.com')) u
CROSS JOIN generate_series(1, 2) AS d
WHERE (u.n <= 5 OR d = 1) AND NOT EXISTS (SELECT 1 FROM auth.sessions);

-- The credential-stuffing burst: users 11-22 signed in from one address within ten minutes, 40-50 minutes ago.
INSERT INTO auth.sessions (id, user_id, created_at, updated_at, aal, refreshed_at, user_agent, ip)
SELECT extensions.gen_random_uuid(), u.id, now() - interval '50 minutes' + (u.n * interval '45 seconds'),
       now() - interval '40 minutes', 'aal1', NULL, 'python-requests/2.31.0', '185.220.101.45'::inet
FROM (SELECT id, row_number() OVER (ORDER BY email) AS n FROM auth.users
      WHERE substring(email FROM 'user(\d+)@')::int BETWEEN 11 AND 22) u
WHERE NOT EXISTS (SELECT 1 FROM auth.sessions s WHERE s.ip = '185.220.101.45'::inet);

-- Two refresh tokens per session (the older one revoked, as a refresh leaves it).
INSERT INTO auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
SELECT '00000000-0000-0000-0000-000000000000', substr(md5(s.id::text || g), 1, 12), s.user_id::text, g = 1,
       s.created_at + (g || ' minutes')::interval, s.updated_at,
       CASE WHEN g = 2 THEN substr(md5(s.id::text || 1), 1, 12) END, s.id
FROM auth.sessions s CROSS JOIN generate_series(1, 2) AS g
WHERE NOT EXISTS (SELECT 1 FROM auth.refresh_tokens);

-- MFA: users 1-3 have a verified TOTP factor; user 3 an unverified phone factor too.
INSERT INTO auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, updated_at, secret, phone)
SELECT extensions.gen_random_uuid(), u.id, f.name, f.kind::auth.factor_type, f.status::auth.factor_status,
       now() - interval '30 days', now() - interval '30 days', CASE WHEN f.kind = 'totp' THEN md5(u.email) END,
       CASE WHEN f.kind = 'phone' THEN '+1555000' || substring(u.email FROM 'user(\d+)@') END
FROM auth.users u
JOIN (VALUES ('user1@example.com', 'Authenticator', 'totp', 'verified'),
             ('user2@example.com', 'Authenticator', 'totp', 'verified'),
             ('user3@example.com', 'Authenticator', 'totp', 'verified'),
             ('user3@example.com', 'Phone', 'phone', 'unverified')) AS f (email, name, kind, status)
  ON f.email = u.email
WHERE NOT EXISTS (SELECT 1 FROM auth.mfa_factors);

-- The audit trail: users 1-10 sign in, refresh and sign out every seven hours, each at its own time (never
-- two sign-ins within ten minutes). GoTrue writes ip_address '' for most actions (login, logout, token_refreshed, recovery);
-- MFA actions carry the client's address.
INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
SELECT '00000000-0000-0000-0000-000000000000', extensions.gen_random_uuid(),
       json_build_object('actor_id', u.id, 'actor_via_sso', false, 'actor_username', u.email, 'action', a.action,
                         'log_type', a.log_type, 'traits', a.traits),
       now() - ((d * 7 + a.shift) || ' hours')::interval - u.n * interval '37 minutes', ''
FROM (SELECT id, email, substring(email FROM 'user(\d+)@')::int AS n FROM auth.users
      WHERE substring(email FROM 'user(\d+)@')::int <= 10) u
CROSS JOIN generate_series(0, 20) AS d
JOIN (VALUES ('login', 'account', '{"provider": "email"}'::json, 0),
             ('token_refreshed', 'token', NULL, 1),
             ('logout', 'account', NULL, 3)) AS a (action, log_type, traits, shift) ON true
WHERE NOT EXISTS (SELECT 1 FROM auth.audit_log_entries);

-- The stuffing burst in the trail: twelve accounts signed in within ten minutes (no address: GoTrue's login).
INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
SELECT '00000000-0000-0000-0000-000000000000', extensions.gen_random_uuid(),
       json_build_object('actor_id', s.user_id, 'actor_via_sso', false, 'actor_username', u.email, 'action', 'login',
                         'log_type', 'account', 'traits', json_build_object('provider', 'email')),
       s.created_at, ''
FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id
WHERE s.ip = '185.220.101.45'::inet
  AND NOT EXISTS (SELECT 1 FROM auth.audit_log_entries e WHERE e.created_at = s.created_at);

-- The MFA brute force: 30 verification attempts on user3's factor from one address in the last half hour.
INSERT INTO auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
SELECT '00000000-0000-0000-0000-000000000000', extensions.gen_random_uuid(),
       json_build_object('actor_id', u.id, 'actor_via_sso', false, 'actor_username', u.email,
                         'action', 'verification_attempted', 'log_type', 'factor',
                         'traits', json_build_object('factor_id', f.id, 'factor_type', 'totp')),
       now() - interval '30 minutes' + (g * interval '50 seconds'), '203.0.113.99'
FROM auth.users u JOIN auth.mfa_factors f ON f.user_id = u.id AND f.factor_type = 'totp'
CROSS JOIN generate_series(1, 30) AS g
WHERE u.email = 'user3@example.com'
  AND NOT EXISTS (SELECT 1 FROM auth.audit_log_entries e WHERE e.ip_address = '203.0.113.99');
