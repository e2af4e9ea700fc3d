-- The demo company's warehouse: raw tables as the business systems write them, and the views
-- reports read. Portable SQL that runs unchanged on DuckDB and PostgreSQL.
-- All timestamps are UTC (TIMESTAMP without time zone); dates are calendar dates in New York.

CREATE TABLE accounts (
    account_id      VARCHAR PRIMARY KEY,
    account_name    VARCHAR NOT NULL,
    industry        VARCHAR NOT NULL,
    region          VARCHAR NOT NULL,
    created_date    DATE NOT NULL
);

CREATE TABLE account_history (
    account_id      VARCHAR NOT NULL,
    plan            VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,
    seats           BIGINT NOT NULL,
    mrr             DOUBLE PRECISION NOT NULL,
    valid_from      DATE NOT NULL,
    valid_to        DATE
);

CREATE TABLE cloud_costs (
    cost_date       DATE NOT NULL,
    service         VARCHAR NOT NULL,
    vendor          VARCHAR NOT NULL,
    team            VARCHAR NOT NULL,
    cost_usd        DOUBLE PRECISION NOT NULL,
    utilization     DOUBLE PRECISION            -- share of provisioned capacity used, 0..1
);

CREATE TABLE cost_budgets (
    month_start         DATE NOT NULL,
    service             VARCHAR NOT NULL,
    team                VARCHAR NOT NULL,
    monthly_budget_usd  DOUBLE PRECISION NOT NULL,
    days_in_month       BIGINT NOT NULL
);

CREATE TABLE cost_savings_opportunities (
    opportunity_id                  VARCHAR PRIMARY KEY,
    identified_date                 DATE NOT NULL,
    service                         VARCHAR NOT NULL,
    team                            VARCHAR NOT NULL,
    description                     VARCHAR NOT NULL,
    monthly_savings_usd             DOUBLE PRECISION NOT NULL,
    realized_date                   DATE,
    realized_monthly_savings_usd    DOUBLE PRECISION
);

CREATE TABLE incidents (
    incident_id     VARCHAR PRIMARY KEY,
    opened_at       TIMESTAMP NOT NULL,
    resolved_at     TIMESTAMP,
    severity        VARCHAR NOT NULL,
    service         VARCHAR NOT NULL,
    title           VARCHAR NOT NULL
);

CREATE TABLE support_tickets (
    ticket_id                   VARCHAR PRIMARY KEY,
    account_id                  VARCHAR NOT NULL,
    opened_at                   TIMESTAMP NOT NULL,
    first_response_at           TIMESTAMP,
    resolved_at                 TIMESTAMP,
    priority                    VARCHAR NOT NULL,
    category                    VARCHAR NOT NULL,
    sla_first_response_hours    DOUBLE PRECISION NOT NULL,
    sla_resolution_hours        DOUBLE PRECISION NOT NULL
);

CREATE TABLE deploy_runs (
    run_id          VARCHAR PRIMARY KEY,
    kind            VARCHAR NOT NULL,
    service         VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    status          VARCHAR NOT NULL
);

CREATE TABLE initiatives (
    initiative_id                   VARCHAR PRIMARY KEY,
    name                            VARCHAR NOT NULL,
    owner                           VARCHAR NOT NULL,
    start_date                      DATE NOT NULL,
    planned_end_date                DATE NOT NULL,
    actual_end_date                 DATE,
    investment_usd                  DOUBLE PRECISION NOT NULL,
    expected_annual_benefit_usd     DOUBLE PRECISION NOT NULL
);

CREATE TABLE initiative_milestones (
    initiative_id   VARCHAR NOT NULL,
    milestone_id    VARCHAR NOT NULL,
    milestone       VARCHAR NOT NULL,
    planned_date    DATE NOT NULL,
    actual_date     DATE
);

CREATE TABLE initiative_ledger (
    initiative_id           VARCHAR NOT NULL,
    month_start             DATE NOT NULL,
    spend_usd               DOUBLE PRECISION NOT NULL,
    realized_benefit_usd    DOUBLE PRECISION NOT NULL
);

CREATE TABLE industry_benchmarks (
    kpi             VARCHAR NOT NULL,
    unit            VARCHAR NOT NULL,
    p25             DOUBLE PRECISION NOT NULL,
    p50             DOUBLE PRECISION NOT NULL,
    p75             DOUBLE PRECISION NOT NULL,
    p90             DOUBLE PRECISION NOT NULL,
    segment         VARCHAR NOT NULL,
    source_year     BIGINT NOT NULL
);

-- Views: what the reporting platform reads. Budgets are spread evenly over the month's days.
CREATE VIEW v_daily_cloud_cost AS
SELECT c.cost_date, c.service, c.vendor, c.team, c.cost_usd, c.utilization,
       b.monthly_budget_usd / b.days_in_month AS daily_budget_usd
FROM cloud_costs c
LEFT JOIN cost_budgets b
  ON b.service = c.service AND b.team = c.team
 AND b.month_start = CAST(date_trunc('month', c.cost_date) AS DATE);

CREATE VIEW v_cost_savings AS
SELECT opportunity_id, identified_date, service, team, description, monthly_savings_usd,
       realized_date, realized_monthly_savings_usd
FROM cost_savings_opportunities;

CREATE VIEW v_incidents AS
SELECT incident_id, opened_at, resolved_at, severity, service, title,
       EXTRACT(EPOCH FROM (resolved_at - opened_at)) / 3600.0 AS resolution_hours
FROM incidents;

CREATE VIEW v_support_tickets AS
SELECT ticket_id, account_id, opened_at, first_response_at, resolved_at, priority, category,
       sla_first_response_hours, sla_resolution_hours,
       EXTRACT(EPOCH FROM (first_response_at - opened_at)) / 3600.0 AS first_response_hours,
       EXTRACT(EPOCH FROM (resolved_at - opened_at)) / 3600.0 AS resolution_hours
FROM support_tickets;

CREATE VIEW v_deploy_runs AS
SELECT run_id, kind, service, started_at, finished_at, status,
       EXTRACT(EPOCH FROM (finished_at - started_at)) / 60.0 AS duration_minutes
FROM deploy_runs;

CREATE VIEW v_initiatives AS
SELECT i.initiative_id, i.name, i.owner, i.start_date, i.planned_end_date, i.actual_end_date,
       i.investment_usd, i.expected_annual_benefit_usd
FROM initiatives i;

CREATE VIEW v_initiative_milestones AS
SELECT initiative_id, milestone_id, milestone, planned_date, actual_date
FROM initiative_milestones;

CREATE VIEW v_initiative_ledger AS
SELECT initiative_id, month_start, spend_usd, realized_benefit_usd
FROM initiative_ledger;

CREATE VIEW v_industry_benchmarks AS
SELECT kpi, unit, segment, source_year, p25, p50, p75, p90
FROM industry_benchmarks;

CREATE VIEW v_account_history AS
SELECT h.account_id, a.account_name, a.industry, a.region, a.created_date,
       h.plan, h.status, h.seats, h.mrr, h.valid_from, h.valid_to
FROM account_history h
JOIN accounts a ON a.account_id = h.account_id;
