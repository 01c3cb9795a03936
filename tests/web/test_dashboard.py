"""The dashboard in headless Chromium: a tenant sees its own numbers (equal to the marts) as
rendered plotly charts and tables, never another tenant's, whatever ids it puts in URLs and
parameters; wrong passwords and logged-out requests are refused; operators see every instance."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import openpyxl
import pytest
from matplotlib import image

from tenant_warehouse.exports import tenant_slug
from tenant_warehouse.web.tenant_view import format_money
from tests.web.conftest import DashboardWarehouse, Login

PNG = b"\x89PNG\r\n\x1a\n"
# plotly's first colour, the bars of the turnover chart (#1f77b4)
BAR_RGB = (0x1F, 0x77, 0xB4)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context
    context.close()


def log_in(page: Any, url: str, who: Login) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=login]", who.login)
    page.fill("input[name=password]", who.password)
    page.click("form[action='/login'] button[type=submit]")


def table(page: Any, name: str) -> list[dict[str, str]]:
    """Rows of a numbers table: month plus every cell with a data-column (its data-value, else
    its text)."""
    return page.eval_on_selector_all(
        f"table[data-table={name}] tbody tr",
        """rows => rows.map(tr => {
            const row = {month: tr.dataset.month, text: {}};
            tr.querySelectorAll('td[data-column]').forEach(td => {
                row[td.dataset.column] = td.dataset.value ?? td.textContent.trim();
                row.text[td.dataset.column] = td.textContent.trim();
            });
            return row;
        })""",
    )


def wait_for_charts(page: Any) -> int:
    """Waits until every chart placeholder was drawn by plotly.js; returns how many there are."""
    # Counted once the page has loaded: counted earlier (the navigation after the login still
    # under way), the number could be short of the charts the page then holds, and the wait
    # below would never see them match.
    page.wait_for_load_state("load")
    count = page.locator("div.chart[data-figure]").count()
    # Polled on a timer, not on animation frames (which headless Chromium may not schedule), until
    # every chart is drawn with its traces (plotly.js may draw them after its promise resolves)
    # or one failed.
    page.wait_for_function(
        """n => {
            if (document.querySelector('div.chart[data-rendered=failed]')) return true;
            const charts = [...document.querySelectorAll('div.chart[data-figure]')];
            return charts.length === n && charts.every(e => e.dataset.rendered === 'true'
                && e.querySelector('.main-svg') && e.querySelectorAll('.trace').length > 0);
        }""",
        arg=count,
        polling=100,
    )
    assert page.locator("div.chart[data-rendered=failed]").count() == 0
    # Each drew its SVG, with at least one trace (bars or line points) in it.
    drawn = page.eval_on_selector_all(
        "div.chart[data-figure]",
        "els => els.map(e => !!e.querySelector('.main-svg') &&"
        " e.querySelectorAll('.trace').length > 0)",
    )
    assert drawn == [True] * count, drawn
    return count


def chart_trace(page: Any, name: str, trace: int = 0) -> dict[str, Any]:
    """x and y of a trace as plotly.js holds it on the drawn chart."""
    return page.eval_on_selector(
        f"div.chart[data-figure={name}]",
        f"el => ({{x: el.data[{trace}].x, y: el.data[{trace}].y}})",
    )


def month(value: Any) -> str:
    return f"{value:%Y-%m}"


def test_logged_out_requests_go_to_login(context: Any, dashboard_url: str) -> None:
    page = context.new_page()
    for path in ("/", "/dashboard", "/statements/2026-03", "/downloads/csv", "/operator"):
        response = page.goto(f"{dashboard_url}{path}")
        assert page.url == f"{dashboard_url}/login", path
        assert response.status == 200 and page.locator("input[name=password]").count() == 1
    for path in ("/api/dashboard", "/api/statements", "/api/operator"):
        response = context.request.get(f"{dashboard_url}{path}")
        assert response.status == 401 and response.json() == {"error": "log in first"}, path


def test_wrong_password_is_refused(
    context: Any, dashboard_url: str, dashboard_warehouse: DashboardWarehouse
) -> None:
    page = context.new_page()
    who = dashboard_warehouse.tenant_a
    responses: list[Any] = []
    page.on("response", lambda r: responses.append(r) if r.request.method == "POST" else None)
    log_in(page, dashboard_url, Login(who.login, who.password + "x", who.tenant_id))
    assert page.url == f"{dashboard_url}/login"
    assert page.locator("p.error").inner_text() == "Wrong login or password."
    assert [r.status for r in responses] == [401]
    # No session came out of it.
    page.goto(f"{dashboard_url}/dashboard")
    assert page.url == f"{dashboard_url}/login"
    # A login form without its token (a cross-site post) is refused before any password check.
    forged = context.request.post(
        f"{dashboard_url}/login", form={"login": who.login, "password": who.password},
        max_redirects=0,
    )  # fmt: skip
    assert forged.status == 400
    assert context.request.get(f"{dashboard_url}/api/dashboard").status == 401


def test_tenant_sees_its_own_numbers_as_charts(
    context: Any, dashboard_url: str, dashboard_warehouse: DashboardWarehouse
) -> None:
    wh, who = dashboard_warehouse, dashboard_warehouse.tenant_a
    page = context.new_page()
    log_in(page, dashboard_url, who)
    assert page.url == f"{dashboard_url}/dashboard"
    assert wait_for_charts(page) == 6  # turnover, orders, monthly and daily users, messages, rates
    [organization] = wh.marts(
        "select organization_name from marts.dim_organizations where tenant_id = ?", (who.tenant_id,)
    )
    assert page.locator("h1").inner_text() == organization["organization_name"]

    turnover = wh.marts(
        "select month_start, currency, completed_orders, turnover_cents"
        " from marts.turnover_by_organization_month where tenant_id = ? order by month_start",
        (who.tenant_id,),
    )
    assert len(turnover) >= 3
    shown = table(page, "turnover")
    assert [(r["month"], int(r["completed_orders"]), int(r["turnover_cents"])) for r in shown] == [
        (month(r["month_start"]), r["completed_orders"], r["turnover_cents"]) for r in turnover
    ]
    assert shown[-1]["text"]["turnover_cents"] == format_money(
        turnover[-1]["turnover_cents"], turnover[-1]["currency"]
    )
    drawn = chart_trace(page, "turnover")
    assert drawn["x"] == [month(r["month_start"]) for r in turnover]
    assert drawn["y"] == pytest.approx([r["turnover_cents"] / 100 for r in turnover])

    active = wh.marts(
        "select period_start, active_contacts from marts.active_users_by_organization"
        " where tenant_id = ? and period = 'month' order by period_start",
        (who.tenant_id,),
    )
    assert [(r["month"], int(r["active_contacts"])) for r in table(page, "active_users")] == [
        (month(r["period_start"]), r["active_contacts"]) for r in active
    ]
    assert chart_trace(page, "active_users")["y"] == [r["active_contacts"] for r in active]

    delivery = wh.marts(
        "select month_start, inbound_messages, outbound_messages, delivered_messages,"
        " failed_messages, delivery_rate from marts.message_delivery_by_organization_month"
        " where tenant_id = ? order by month_start",
        (who.tenant_id,),
    )
    assert [
        (r["month"], int(r["inbound_messages"]), int(r["outbound_messages"]),
         int(r["delivered_messages"]), int(r["failed_messages"]),
         float(r["delivery_rate"]) if r["delivery_rate"] else None)
        for r in table(page, "delivery")
    ] == [
        (month(r["month_start"]), r["inbound_messages"], r["outbound_messages"],
         r["delivered_messages"], r["failed_messages"],
         float(r["delivery_rate"]) if r["delivery_rate"] is not None else None)
        for r in delivery
    ]  # fmt: skip

    billing = wh.marts(
        "select month_start, billed_cents from marts.billing_by_organization_month"
        " where tenant_id = ? order by month_start",
        (who.tenant_id,),
    )
    assert [(r["month"], int(r["billed_cents"])) for r in table(page, "statements")] == [
        (month(r["month_start"]), r["billed_cents"]) for r in billing
    ]
    # The API behind the page says the same.
    api = context.request.get(f"{dashboard_url}/api/dashboard").json()
    assert api["tenant_id"] == who.tenant_id
    assert [r["turnover_cents"] for r in api["turnover"]] == [r["turnover_cents"] for r in turnover]

    # Screenshots: a real PNG of the whole page, and the turnover chart drawn with its bars.
    png = page.screenshot(full_page=True)
    assert png[:8] == PNG and len(png) > 60_000
    chart_png = page.locator("div.chart[data-figure=turnover]").screenshot()
    pixels = image.imread(io.BytesIO(chart_png), format="png")[..., :3] * 255
    bar_pixels = (abs(pixels - BAR_RGB).max(axis=-1) < 8).sum()
    assert bar_pixels > 2_000, f"only {bar_pixels} pixels of the bar colour in the chart"

    # The statement of a month opens as the statements package renders it.
    last = month(billing[-1]["month_start"])
    page.click(f"a[data-statement='{last}']")
    assert page.url == f"{dashboard_url}/statements/{last}"
    assert organization["organization_name"] in page.content()


def b_markers(wh: DashboardWarehouse) -> list[str]:
    """Strings that only tenant B's data can produce in a response."""
    b, a = wh.tenant_b.tenant_id, wh.tenant_a.tenant_id
    [organization] = wh.marts(
        "select organization_name, instance_id, organization_id from marts.dim_organizations"
        " where tenant_id = ?", (b,),
    )  # fmt: skip
    a_cents = {
        value for row in wh.marts(
            "select turnover_cents, billed_cents, monthly_fee_cents, variable_fee_cents"
            " from marts.billing_by_organization_month where tenant_id = ?", (a,),
        ) for value in row.values()
    }  # fmt: skip
    b_billing = wh.marts(
        "select month_start, currency, turnover_cents, billed_cents"
        " from marts.billing_by_organization_month where tenant_id = ?", (b,),
    )  # fmt: skip
    markers = [b, wh.tenant_b.login, organization["organization_name"]]
    for row in b_billing:
        for cents in (row["turnover_cents"], row["billed_cents"]):
            markers.append(format_money(cents, row["currency"]))
            if cents not in a_cents and cents >= 10_000:
                markers += [f'data-value="{cents}"', f'"turnover_cents": {cents}',
                            f'"turnover_cents":{cents}']
        markers.append(
            f"{organization['instance_id'].upper()}-{organization['organization_id']}-"
            f"{row['month_start']:%Y%m}"
        )  # B's invoice numbers
    markers += [
        row["email_hash"] for row in wh.marts(
            "select email_hash from marts.dim_contacts where tenant_id = ?"
            " and email_hash is not null limit 5", (b,),
        )
    ]  # fmt: skip
    return markers


def test_tenant_never_sees_another_tenants_data(
    context: Any, dashboard_url: str, dashboard_warehouse: DashboardWarehouse
) -> None:
    wh = dashboard_warehouse
    a, b = wh.tenant_a.tenant_id, wh.tenant_b.tenant_id
    page = context.new_page()
    log_in(page, dashboard_url, wh.tenant_a)
    assert page.url == f"{dashboard_url}/dashboard"
    markers = b_markers(wh)
    b_months = [month(r["month_start"]) for r in wh.marts(
        "select month_start from marts.billing_by_organization_month where tenant_id = ?", (b,)
    )]  # fmt: skip
    b_slug, a_slug, b_org = tenant_slug(b), tenant_slug(a), b.split(":")[1]
    qb = quote(b)
    expected = {
        "/": 303, "/dashboard": 200, "/api/dashboard": 200, "/api/statements": 200,
        "/statements": 200, "/downloads/csv": 200, "/downloads/xlsx": 200,
        "/downloads/csv/orders.csv": 200, "/downloads/csv/contacts.csv": 200,
        "/downloads/csv/manifest.json": 200, f"/downloads/xlsx/{a_slug}.xlsx": 200,
        # B's ids in parameters: refused, never applied.
        f"/dashboard?tenant={qb}": 400, f"/dashboard?tenant_id={qb}": 400,
        f"/api/dashboard?tenant_id={qb}": 400, f"/api/dashboard?organization_id={b_org}": 400,
        f"/api/statements?tenant_id={qb}": 400, f"/statements/{b_months[0]}?tenant_id={qb}": 400,
        f"/downloads/csv?tenant_id={qb}": 400, f"/downloads/csv/orders.csv?tenant={qb}": 400,
        # B's ids in paths: resolved within A's data, so they name nothing.
        f"/statements/{qb}": 404, f"/statements/{b_slug}": 404,
        f"/downloads/xlsx/{b_slug}.xlsx": 404, f"/downloads/csv/{b_slug}.csv": 404,
        f"/downloads/csv/..%2F..%2F{b_slug}%2Fcsv%2Forders.csv": 404,
        f"/downloads/{b_slug}/orders.csv": 404, "/downloads/csv/%2E%2E": 404,
        # The operator's global view is not a tenant's.
        "/operator": 403, "/api/operator": 403, f"/api/operator?tenant_id={qb}": 403,
    }
    # B's statement months, asked by A, are A's months: A's statement, or none.
    a_months = {month(r["month_start"]) for r in wh.marts(
        "select month_start from marts.billing_by_organization_month where tenant_id = ?", (a,)
    )}  # fmt: skip
    expected.update({f"/statements/{m}": 200 if m in a_months else 404 for m in b_months})
    bodies = {}
    for path, status in expected.items():
        response = context.request.get(f"{dashboard_url}{path}", max_redirects=0)
        assert response.status == status, (path, response.status, response.text()[:300])
        bodies[path] = response.body()
    for path, body in bodies.items():
        text = body.decode("utf-8", errors="replace")
        leaked = [marker for marker in markers if marker in text]
        assert not leaked, f"{path} shows tenant {b}'s data: {leaked[:3]}"
    a_instance, a_org = a.split(":")
    for m in set(b_months) & a_months:
        invoice = f"{a_instance.upper()}-{a_org}-{m.replace('-', '')}"
        assert invoice in bodies[f"/statements/{m}"].decode(), m
    # A's exports hold A's rows only.
    orders_csv = bodies["/downloads/csv/orders.csv"].decode()
    tenant_cells = set(re.findall(r"\b[a-z]{2}:\d+\b", orders_csv))
    assert tenant_cells == {a}, tenant_cells
    workbook = openpyxl.load_workbook(io.BytesIO(bodies[f"/downloads/xlsx/{a_slug}.xlsx"]),
                                      read_only=True)  # fmt: skip
    cells = {str(v) for sheet in workbook for row in sheet.iter_rows(values_only=True) for v in row}
    assert a in cells and not cells & set(markers)
    # The page A browses is A's.
    assert b not in page.content() and a in page.content()


def test_operator_sees_every_instance(
    context: Any, dashboard_url: str, dashboard_warehouse: DashboardWarehouse
) -> None:
    wh = dashboard_warehouse
    page = context.new_page()
    log_in(page, dashboard_url, wh.operator)
    assert page.url == f"{dashboard_url}/operator"
    assert wait_for_charts(page) == 4
    global_turnover = wh.marts(
        "select month_start, turnover_cents from marts.turnover_global_month order by month_start"
    )
    assert [(r["month"], int(r["turnover_cents"])) for r in table(page, "turnover_global")] == [
        (month(r["month_start"]), r["turnover_cents"]) for r in global_turnover
    ]
    organizations = {r["instance_id"]: r["n"] for r in wh.marts(
        "select instance_id, count(*) as n from marts.dim_organizations group by instance_id"
    )}  # fmt: skip
    shown = page.eval_on_selector_all(
        "table[data-table=instances] tbody tr",
        "rows => rows.map(tr => [tr.dataset.instance,"
        " tr.querySelector('td[data-column=organizations]').textContent])",
    )
    assert {instance: int(n) for instance, n in shown} == organizations
    newest = set(page.eval_on_selector_all(
        "table[data-table=newest_organizations] tbody tr", "rows => rows.map(r => r.dataset.tenant)"
    ))  # fmt: skip
    assert {wh.tenant_a.tenant_id, wh.tenant_b.tenant_id} <= newest
    png = page.screenshot(full_page=True)
    assert png[:8] == PNG and len(png) > 60_000
    # An operator is not a tenant: tenant pages are refused, not shown for some tenant.
    for path in ("/dashboard", "/api/dashboard", "/statements/2026-03", "/downloads/csv"):
        assert context.request.get(f"{dashboard_url}{path}").status == 403, path


def test_logout_ends_the_session(
    browser: Any, context: Any, dashboard_url: str, dashboard_warehouse: DashboardWarehouse
) -> None:
    page = context.new_page()
    log_in(page, dashboard_url, dashboard_warehouse.tenant_a)
    [cookie] = context.cookies()
    assert cookie["name"] == "tw_dashboard" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    headers = context.request.get(f"{dashboard_url}/dashboard").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    # A logout without the form's token (cross-site) does nothing.
    assert context.request.post(f"{dashboard_url}/logout", form={}, max_redirects=0).status == 400
    assert context.request.get(f"{dashboard_url}/api/dashboard").status == 200
    page.click("form.logout button")
    assert page.url == f"{dashboard_url}/login"
    # The old cookie, replayed, is worth nothing: the session ended on the server.
    replay = browser.new_context()
    try:
        replay.add_cookies([cookie])
        assert replay.request.get(f"{dashboard_url}/api/dashboard").status == 401
    finally:
        replay.close()
