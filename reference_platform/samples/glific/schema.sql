-- Glific: the subset of an instance's application database that tenant_warehouse reads, written
-- from the column lists and types of glific/glific priv/repo/structure.sql and its migrations
-- (Ecto, PostgreSQL). Quirks kept on purpose:
--   * bigint ids; `organization_id` on every tenant table (organizations carry one too);
--   * Ecto's `inserted_at`/`updated_at`, UTC wall-clock in `timestamp without time zone`:
--     `timestamp(0)` (whole seconds, rounded on write) on organizations and users, microseconds
--     on contacts, messages and flows;
--   * PostgreSQL enums for message direction (`flow`), provider status (`bsp_status`) and
--     statuses; `user_roles_enum[]` arrays; jsonb; uuid; bytea;
--   * the organization's zone is `timezone` (NULL means the application default, Asia/Kolkata);
--   * contacts are hard-deleted and their messages and users go with them (ON DELETE CASCADE on
--     contact_id, sender_id and receiver_id); organizations are soft-deleted (`deleted_at`,
--     a later migration than structure.sql), then their data is wiped table by table.
-- Global tables (languages, providers) are not created: their ids stay plain bigint columns.

CREATE TYPE organization_status_enum AS ENUM (
    'inactive', 'approved', 'active', 'suspended', 'ready_to_delete'
);
CREATE TYPE contact_provider_status_enum AS ENUM ('none', 'session', 'session_and_hsm', 'hsm');
CREATE TYPE contact_status_enum AS ENUM ('blocked', 'failed', 'invalid', 'processing', 'valid');
CREATE TYPE flow_type_enum AS ENUM ('message');
CREATE TYPE message_flow_enum AS ENUM ('inbound', 'outbound');
CREATE TYPE message_status_enum AS ENUM (
    'sent', 'delivered', 'enqueued', 'error', 'read', 'received', 'contact_opt_out'
);
CREATE TYPE message_type_enum AS ENUM (
    'audio', 'contact', 'document', 'hsm', 'image', 'location', 'list', 'quick_reply', 'text',
    'video', 'sticker', 'location_request_message'
);
CREATE TYPE user_roles_enum AS ENUM ('none', 'staff', 'manager', 'admin', 'glific_admin');

CREATE TABLE organizations (
    id bigserial PRIMARY KEY,
    name varchar(255) NOT NULL,
    shortcode varchar(255) NOT NULL,
    email varchar(255) NOT NULL,
    bsp_id bigint NOT NULL,
    default_language_id bigint NOT NULL,
    active_language_ids integer[] DEFAULT ARRAY[]::integer[],
    contact_id integer,
    out_of_office jsonb,
    is_active boolean DEFAULT true,
    timezone varchar(255),
    inserted_at timestamp(0) without time zone NOT NULL,
    updated_at timestamp(0) without time zone NOT NULL,
    session_limit integer DEFAULT 60,
    organization_id bigint,
    signature_phrase bytea,
    last_communication_at timestamp(0) without time zone,
    is_approved boolean DEFAULT false,
    fields jsonb DEFAULT '{}'::jsonb,
    status organization_status_enum DEFAULT 'inactive'::organization_status_enum,
    is_suspended boolean DEFAULT false,
    suspended_until timestamp(0) without time zone,
    deleted_at timestamp(0) without time zone
);
CREATE UNIQUE INDEX organizations_shortcode_index ON organizations (shortcode);
CREATE UNIQUE INDEX organizations_contact_id_index ON organizations (contact_id);
CREATE INDEX organizations_deleted_index ON organizations (deleted_at) WHERE deleted_at IS NULL;

CREATE TABLE contacts (
    id bigserial PRIMARY KEY,
    name varchar(255),
    phone varchar(255) NOT NULL,
    bsp_status contact_provider_status_enum DEFAULT 'none' NOT NULL,
    status contact_status_enum DEFAULT 'valid' NOT NULL,
    language_id bigint NOT NULL,
    optin_time timestamp(0) without time zone,
    optout_time timestamp(0) without time zone,
    last_message_at timestamp(0) without time zone,
    settings jsonb DEFAULT '{}'::jsonb,
    fields jsonb DEFAULT '{}'::jsonb,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    inserted_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    last_communication_at timestamp(0) without time zone,
    optin_method varchar(255),
    optin_status boolean DEFAULT false,
    optout_method varchar(255)
);
CREATE UNIQUE INDEX contacts_phone_organization_id_index ON contacts (phone, organization_id);
CREATE INDEX contacts_organization_id_index ON contacts (organization_id);

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    phone varchar(255) NOT NULL,
    password_hash varchar(255),
    name varchar(255),
    roles user_roles_enum[] DEFAULT ARRAY['none'::user_roles_enum],
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    inserted_at timestamp(0) without time zone NOT NULL,
    updated_at timestamp(0) without time zone NOT NULL,
    is_restricted boolean DEFAULT false,
    last_login_at timestamp(0) without time zone,
    language_id bigint,
    confirmed_at timestamp(0) without time zone
);
CREATE UNIQUE INDEX users_phone_organization_id_index ON users (phone, organization_id);

CREATE TABLE flows (
    id bigserial PRIMARY KEY,
    name varchar(255) NOT NULL,
    uuid uuid NOT NULL,
    version_number varchar(255) DEFAULT '13.1.0',
    flow_type flow_type_enum DEFAULT 'message' NOT NULL,
    ignore_keywords boolean DEFAULT false,
    keywords varchar(255)[] DEFAULT ARRAY[]::varchar[],
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    inserted_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    respond_other boolean DEFAULT false,
    is_active boolean DEFAULT true,
    is_background boolean DEFAULT false,
    is_pinned boolean DEFAULT false
);
CREATE UNIQUE INDEX flows_name_organization_id_index ON flows (name, organization_id);
CREATE UNIQUE INDEX flows_uuid_organization_id_index ON flows (uuid, organization_id);

CREATE TABLE messages (
    id bigserial PRIMARY KEY,
    uuid uuid,
    body text,
    type message_type_enum,
    is_hsm boolean DEFAULT false,
    flow message_flow_enum,
    status message_status_enum DEFAULT 'enqueued'::message_status_enum NOT NULL,
    bsp_message_id text,
    bsp_status message_status_enum,
    errors jsonb,
    message_number bigint,
    sender_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    receiver_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    contact_id bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    send_at timestamp(0) without time zone,
    sent_at timestamp(0) without time zone,
    organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    inserted_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    flow_id bigint REFERENCES flows (id) ON DELETE SET NULL,
    flow_label varchar(255),
    context_id text,
    interactive_content jsonb DEFAULT '{}'::jsonb
);
CREATE UNIQUE INDEX messages_bsp_message_id_organization_id_index
    ON messages (bsp_message_id, organization_id);
CREATE INDEX messages_organization_id_index ON messages (organization_id);
CREATE INDEX messages_contact_id_index ON messages (contact_id);
CREATE INDEX messages_updated_at_index ON messages (updated_at);

-- The generator's own bookkeeping (never ingested: tables.yml excludes sim_*).
CREATE TABLE sim_state (
    key text PRIMARY KEY,
    value text NOT NULL
);
