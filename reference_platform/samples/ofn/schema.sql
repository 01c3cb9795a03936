-- Open Food Network: the subset of an instance's application database that tenant_warehouse
-- reads, written from the column lists and types of openfoodfoundation/openfoodnetwork
-- db/schema.rb (Rails 7, PostgreSQL). Quirks kept on purpose:
--   * `serial` (integer) ids, Rails timestamps as `timestamp without time zone` (precision nil =
--     microseconds); `completed_at` nullable; `enterprise_roles` has no timestamps at all;
--   * no tenant column on orders: an order belongs to its distributor (`distributor_id`, NULL
--     while a cart has no shop yet); line items reach a shop only through `order_id`;
--   * money is `numeric(10,2)` in currency units; states are free varchar (`canceled`, one l);
--   * enterprises have no time zone and no plan: `sells` (none/own/any) and
--     `is_primary_producer` say what kind of enterprise it is;
--   * foreign keys without ON DELETE actions: Rails deletes children itself (`dependent:
--     :destroy`), so the database sees the line items go first, then the order.
-- Columns the warehouse never reads (addresses, tokens, tax details...) are left out, except
-- a few secrets and free texts kept so that the ingestion config has to exclude them.

CREATE TABLE spree_users (
    id serial PRIMARY KEY,
    encrypted_password varchar(255),
    password_salt varchar(255),
    email varchar(255),
    login varchar(255),
    sign_in_count integer DEFAULT 0 NOT NULL,
    failed_attempts integer DEFAULT 0 NOT NULL,
    last_sign_in_at timestamp without time zone,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    spree_api_key varchar(48),
    enterprise_limit integer DEFAULT 5 NOT NULL,
    locale varchar(6),
    confirmed_at timestamp without time zone,
    disabled_at timestamp without time zone,
    terms_of_service_accepted_at timestamp(6) without time zone,
    admin boolean DEFAULT false NOT NULL
);
CREATE UNIQUE INDEX email_idx_unique ON spree_users (email);

CREATE TABLE enterprises (
    id serial PRIMARY KEY,
    name varchar(255),
    description text,
    is_primary_producer boolean,
    contact_name varchar(255),
    phone varchar(255),
    website varchar(255),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    owner_id integer NOT NULL REFERENCES spree_users (id),
    sells varchar(255) DEFAULT 'none' NOT NULL,
    producer_profile_only boolean DEFAULT false,
    permalink varchar(255) NOT NULL,
    charges_sales_tax boolean DEFAULT false NOT NULL,
    email_address varchar(255),
    require_login boolean DEFAULT false NOT NULL,
    allow_guest_orders boolean DEFAULT true NOT NULL,
    visible varchar DEFAULT 'only_through_links' NOT NULL,
    external_billing_id varchar(128)
);
CREATE UNIQUE INDEX index_enterprises_on_name ON enterprises (name);
CREATE UNIQUE INDEX index_enterprises_on_permalink ON enterprises (permalink);
CREATE INDEX index_enterprises_on_is_primary_producer_and_sells
    ON enterprises (is_primary_producer, sells);

-- No timestamps at all: nothing tells a reader which rows changed since the last look.
CREATE TABLE enterprise_roles (
    id serial PRIMARY KEY,
    user_id integer NOT NULL REFERENCES spree_users (id),
    enterprise_id integer NOT NULL REFERENCES enterprises (id),
    receives_notifications boolean DEFAULT false
);
CREATE UNIQUE INDEX index_enterprise_roles_on_enterprise_id_and_user_id
    ON enterprise_roles (enterprise_id, user_id);

CREATE TABLE customers (
    id serial PRIMARY KEY,
    email varchar(255) NOT NULL,
    enterprise_id integer NOT NULL REFERENCES enterprises (id),
    code varchar(255),
    user_id integer REFERENCES spree_users (id),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    name varchar(255),
    allow_charges boolean DEFAULT false NOT NULL,
    terms_and_conditions_accepted_at timestamp without time zone,
    first_name varchar DEFAULT '' NOT NULL,
    last_name varchar DEFAULT '' NOT NULL,
    created_manually boolean DEFAULT false
);
CREATE UNIQUE INDEX index_customers_on_email_and_enterprise_id ON customers (email, enterprise_id);

CREATE TABLE spree_orders (
    id serial PRIMARY KEY,
    number varchar(15),
    item_total numeric(10,2) DEFAULT 0.0 NOT NULL,
    total numeric(10,2) DEFAULT 0.0 NOT NULL,
    state varchar(255),
    adjustment_total numeric(10,2) DEFAULT 0.0 NOT NULL,
    user_id integer REFERENCES spree_users (id),
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    completed_at timestamp without time zone,
    payment_total numeric(10,2) DEFAULT 0.0,
    shipment_state varchar(255),
    payment_state varchar(255),
    email varchar(255),
    special_instructions text,
    distributor_id integer REFERENCES enterprises (id),
    order_cycle_id integer,
    currency varchar(255),
    last_ip_address varchar(255),
    customer_id integer REFERENCES customers (id),
    created_by_id integer REFERENCES spree_users (id),
    included_tax_total numeric(10,2) DEFAULT 0.0 NOT NULL,
    additional_tax_total numeric(10,2) DEFAULT 0.0 NOT NULL,
    note varchar DEFAULT '' NOT NULL
);
CREATE INDEX index_spree_orders_on_distributor_id ON spree_orders (distributor_id);
CREATE INDEX index_spree_orders_on_customer_id ON spree_orders (customer_id);
CREATE INDEX index_orders_on_number ON spree_orders (number);

CREATE TABLE spree_line_items (
    id serial PRIMARY KEY,
    order_id integer NOT NULL REFERENCES spree_orders (id),
    variant_id integer NOT NULL,
    quantity integer NOT NULL,
    price numeric(10,2) NOT NULL,
    created_at timestamp without time zone NOT NULL,
    updated_at timestamp without time zone NOT NULL,
    max_quantity integer,
    currency varchar(255),
    distribution_fee numeric(10,2),
    final_weight_volume numeric(10,2),
    weight numeric(8,2),
    unit_presentation varchar,
    product_name varchar,
    variant_name varchar
);
CREATE INDEX index_line_items_on_order_id ON spree_line_items (order_id);
-- Rails' updated_at indexes are not in OFN's schema: incremental reads scan, as on the real one.

-- The generator's own bookkeeping (never ingested: tables.yml excludes sim_*).
CREATE TABLE sim_state (
    key text PRIMARY KEY,
    value text NOT NULL
);
