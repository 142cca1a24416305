"""The case table: every route of the project must match one (a route without one is a FAIL)."""

from verification.isolation.probes import Case, exact, home_probes, public_probes
from verification.isolation.probes_admin import (
    ACCOUNT_LEGACY_SOCIAL_PREFIX,
    ACCOUNT_PUBLIC,
    ACCOUNT_SIGNED_IN,
    ADMIN_SITE_PAGES,
    OWN_ACCOUNT,
    PUBLIC_PATHS,
    account_public_probes,
    account_signed_in_probes,
    admin_model_covered,
    admin_model_probes,
    admin_site_probes,
    admin_user_password_probes,
    admin_view_on_site_probes,
)
from verification.isolation.probes_api import (
    COLLECTOR_COMMAND_PATHS,
    COMMAND_API_PATHS,
    TELEMETRY_LIST_PATHS,
    TELEMETRY_MINER_PATHS,
    TELEMETRY_SITE_PATHS,
    audit_api_probes,
    collector_probes,
    collector_status_probes,
    command_api_probes,
    telemetry_admin_history_probes,
    telemetry_read_probes,
)
from verification.isolation.probes_control import command_board_probes
from verification.isolation.probes_curtailment import CURTAILMENT_API_PATHS, curtailment_api_probes
from verification.isolation.probes_edge import (
    COLLECTOR_HEALTH_PATH,
    EDGE_ORIGINAL_PATHS,
    MONITOR_HISTORY_PATH,
    health_probes,
    monitor_history_probes,
)
from verification.isolation.probes_evidence import (
    EVIDENCE_PACK_PATHS,
    EVIDENCE_REQUEST_PATH,
    PORTAL_EVIDENCE_PATH,
    evidence_pack_probes,
    evidence_request_probes,
    portal_evidence_probes,
)
from verification.isolation.probes_hosting import (
    HOSTING_API_PATHS,
    PORTAL_HOSTING_PATHS,
    PORTAL_WORK_ORDER_PATH,
    hosting_api_probes,
    portal_hosting_probes,
    portal_work_order_probes,
)
from verification.isolation.probes_hosting_ops import (
    HOSTING_MINER_ACTION_PATHS,
    HOSTING_MINER_BATCH_PATHS,
    hosting_miner_action_probes,
)
from verification.isolation.probes_hosting_reads import (
    HOSTING_CURTAILMENT_CANCEL_PATH,
    HOSTING_CURTAILMENT_HISTORY_PATH,
    HOSTING_CURTAILMENT_SITE_PATHS,
    HOSTING_FLEET_LIST_PATHS,
    HOSTING_FLEET_MINER_PATHS,
    HOSTING_FLEET_SITE_PATH,
    HOSTING_MONITORING_INCIDENT_PATH,
    HOSTING_MONITORING_OVERVIEW_PATH,
    HOSTING_SITE_EVIDENCE_PATH,
    hosting_curtailment_probes,
    hosting_fleet_probes,
    hosting_monitoring_probes,
    hosting_site_evidence_probes,
)
from verification.isolation.probes_legacy_v1 import (
    LEGACY_COMMAND_LIST_PATH,
    LEGACY_COMMAND_PATHS,
    LEGACY_PROPOSE_PATH,
    LEGACY_SITE_COMMANDS_PATH,
    LEGACY_SITE_SUMMARY_PATH,
    legacy_command_list_probes,
    legacy_command_probes,
    legacy_propose_probes,
    legacy_site_commands_probes,
    legacy_site_summary_probes,
)
from verification.isolation.probes_portal import (
    CLIENT_API_PATHS,
    CLIENT_MINER_PATH,
    CLIENT_NOT_CARRIED_PATH,
    CLIENT_PAGE_PATHS,
    CLIENT_REPORT_GENERATE_PATH,
    PORTAL_DOWNTIME_PATH,
    PORTAL_MINER_PATH,
    PORTAL_TENANT_PATHS,
    client_api_probes,
    client_miner_probes,
    client_not_carried_probes,
    client_page_probes,
    client_report_generate_probes,
    portal_downtime_probes,
    portal_index_probes,
    portal_miner_probes,
    portal_tenant_probes,
)
from verification.isolation.probes_portal_v1 import (
    PORTAL_APPROVAL_MINERS_PATH,
    PORTAL_APPROVALS_PATH,
    PORTAL_V1_DECISION_PATHS,
    PORTAL_V1_READ_PATHS,
    portal_approval_miners_probes,
    portal_approvals_probes,
    portal_v1_decision_probes,
    portal_v1_read_probes,
)
from verification.isolation.probes_reports import (
    PORTAL_REPORTS_PATH,
    SLA_REPORT_PATHS,
    portal_reports_probes,
    sla_report_probes,
)
from verification.isolation.probes_rules import (
    HOSTING_THERMAL_PATHS,
    RULE_ADMIN_BACKTEST_PATHS,
    RULE_API_PATHS,
    THERMAL_PATHS,
    rule_admin_backtest_probes,
    rule_api_probes,
    thermal_probes,
)
from verification.isolation.probes_tokens import (
    TOKEN_LIST_PATH,
    TOKEN_PAGE_PATH,
    TOKEN_PAGE_REVOKE_PATH,
    TOKEN_REVOKE_PATH,
    token_list_probes,
    token_page_probes,
    token_page_revoke_probes,
    token_revoke_probes,
)
from verification.isolation.routes import Route, route_list

CASES: list[Case] = [
    Case("public probe", exact(*PUBLIC_PATHS), public_probes),
    Case("home page", exact("/"), home_probes),
    Case("portal index", exact("/portal/"), portal_index_probes),
    Case("portal tenant page", exact(*PORTAL_TENANT_PATHS), portal_tenant_probes),
    Case("portal miner page", exact(PORTAL_MINER_PATH), portal_miner_probes),
    Case("portal evidence packs page", exact(PORTAL_EVIDENCE_PATH), portal_evidence_probes),
    Case("portal approvals page (owner's consent)", exact(PORTAL_APPROVALS_PATH), portal_approvals_probes),
    Case(
        "portal approvals: the request form's miner picker",
        exact(PORTAL_APPROVAL_MINERS_PATH),
        portal_approval_miners_probes,
    ),
    Case("portal downtime page", exact(PORTAL_DOWNTIME_PATH), portal_downtime_probes),
    Case("legacy client API", exact(*CLIENT_API_PATHS), client_api_probes),
    Case("original portal-lite API (reads)", exact(*PORTAL_V1_READ_PATHS), portal_v1_read_probes),
    Case("original portal-lite API (owner's approval)", exact(*PORTAL_V1_DECISION_PATHS), portal_v1_decision_probes),
    Case("legacy client API: a miner by integer id", exact(CLIENT_MINER_PATH), client_miner_probes),
    Case("legacy client API: generate a report", exact(CLIENT_REPORT_GENERATE_PATH), client_report_generate_probes),
    Case("legacy client API: usage alerts (not carried)", exact(CLIENT_NOT_CARRIED_PATH), client_not_carried_probes),
    Case("legacy client pages (redirects to the portal)", exact(*CLIENT_PAGE_PATHS), client_page_probes),
    Case("portal reports page", exact(PORTAL_REPORTS_PATH), portal_reports_probes),
    Case("SLA reports (v1 json/csv/pdf, legacy)", exact(*SLA_REPORT_PATHS), sla_report_probes),
    Case("portal hosting page", exact(*PORTAL_HOSTING_PATHS), portal_hosting_probes),
    Case("portal work order page", exact(PORTAL_WORK_ORDER_PATH), portal_work_order_probes),
    Case("hosting API (v1 and legacy)", exact(*HOSTING_API_PATHS), hosting_api_probes),
    Case("collector status (collectors and people)", exact("/api/collector/status"), collector_status_probes),
    Case(
        "collector API",
        exact(
            "/api/collector/upload",
            "/api/collector/telemetry",
            "/api/edge/v1/telemetry/batch",
            *COLLECTOR_COMMAND_PATHS,
            *EDGE_ORIGINAL_PATHS,
        ),
        collector_probes,
    ),
    Case("collector health (original legacy adapter)", exact(COLLECTOR_HEALTH_PATH), health_probes),
    Case("operator API: audit", exact("/api/admin/v1/audit"), audit_api_probes),
    Case(
        "telemetry reads",
        exact(
            "/api/v1/telemetry/live",
            "/api/v1/telemetry/history",
            *TELEMETRY_SITE_PATHS,
            *TELEMETRY_MINER_PATHS,
            *TELEMETRY_LIST_PATHS,
        ),
        telemetry_read_probes,
    ),
    Case("telemetry: the original monitor page's history", exact(MONITOR_HISTORY_PATH), monitor_history_probes),
    Case("admin: telemetry history", exact("/admin/telemetry/telemetrylive/history/"), telemetry_admin_history_probes),
    Case("admin: command board", exact("/admin/control/command/board/"), command_board_probes),
    Case("operator API: commands", exact(*COMMAND_API_PATHS), command_api_probes),
    Case(
        "original operator miner control (/hosting/api/miners…)",
        exact(*HOSTING_MINER_ACTION_PATHS, *HOSTING_MINER_BATCH_PATHS),
        hosting_miner_action_probes,
    ),
    Case("original command list (v1)", exact(LEGACY_COMMAND_LIST_PATH), legacy_command_list_probes),
    Case(
        "original propose (v1): operators and customers on their own miners",
        exact(LEGACY_PROPOSE_PATH),
        legacy_propose_probes,
    ),
    Case(
        "original operator fleet reads (/hosting/api/miners, /sites, /overview)",
        exact(*HOSTING_FLEET_LIST_PATHS, *HOSTING_FLEET_MINER_PATHS, HOSTING_FLEET_SITE_PATH),
        hosting_fleet_probes,
    ),
    Case(
        "original curtailment routes (/hosting/api/curtailment/…)",
        exact(*HOSTING_CURTAILMENT_SITE_PATHS, HOSTING_CURTAILMENT_CANCEL_PATH, HOSTING_CURTAILMENT_HISTORY_PATH),
        hosting_curtailment_probes,
    ),
    Case(
        "original event monitoring (/hosting/api/monitoring/…: alerts)",
        exact(HOSTING_MONITORING_OVERVIEW_PATH, HOSTING_MONITORING_INCIDENT_PATH),
        hosting_monitoring_probes,
    ),
    Case(
        "original site evidence package (/hosting/api/sites/<id>/evidence-package)",
        exact(HOSTING_SITE_EVIDENCE_PATH),
        hosting_site_evidence_probes,
    ),
    Case("original command routes (v1, remote control)", exact(*LEGACY_COMMAND_PATHS), legacy_command_probes),
    Case("original site commands", exact(LEGACY_SITE_COMMANDS_PATH), legacy_site_commands_probes),
    Case("original telemetry site summary", exact(LEGACY_SITE_SUMMARY_PATH), legacy_site_summary_probes),
    Case("operator API: rules", exact(*RULE_API_PATHS), rule_api_probes),
    Case("admin: rule backtest (a rule's, a draft's)", exact(*RULE_ADMIN_BACKTEST_PATHS), rule_admin_backtest_probes),
    Case("legacy thermal routes (rules)", exact(*THERMAL_PATHS, *HOSTING_THERMAL_PATHS), thermal_probes),
    Case("operator API: curtailments", exact(*CURTAILMENT_API_PATHS), curtailment_api_probes),
    Case("evidence pack request", exact(EVIDENCE_REQUEST_PATH), evidence_request_probes),
    Case("evidence pack status and download", exact(*EVIDENCE_PACK_PATHS), evidence_pack_probes),
    Case(
        "personal API tokens: mine",
        exact(TOKEN_LIST_PATH),
        token_list_probes,
        writes_exempt="POST creates a token in the caller's own account only",
    ),
    Case("personal API tokens: revoke", exact(TOKEN_REVOKE_PATH), token_revoke_probes),
    Case(
        "personal API tokens page",
        exact(TOKEN_PAGE_PATH),
        token_page_probes,
        writes_exempt="POST creates a token in the caller's own account only",
    ),
    Case("personal API tokens page: revoke", exact(TOKEN_PAGE_REVOKE_PATH), token_page_revoke_probes),
    Case("admin model", admin_model_covered, admin_model_probes),
    Case("admin: user password", exact("/admin/auth/user/<id>/password/"), admin_user_password_probes),
    Case("admin: view on site", exact("/admin/r/<path:content_type_id>/<path:object_id>/"), admin_view_on_site_probes),
    Case("admin site page", lambda r: r.name in ADMIN_SITE_PAGES or r.path == "/admin/<url>", admin_site_probes),
    Case(
        "account page (public)",
        lambda r: r.name in ACCOUNT_PUBLIC or r.path.startswith(ACCOUNT_LEGACY_SOCIAL_PREFIX),
        account_public_probes,
        writes_exempt=OWN_ACCOUNT,
    ),
    Case(
        "account page (signed in)",
        lambda r: r.name in ACCOUNT_SIGNED_IN,
        account_signed_in_probes,
        writes_exempt=OWN_ACCOUNT,
    ),
]


def case_for(route: Route) -> Case | None:
    return next((c for c in CASES if c.matches(route)), None)


def routes_without_case() -> list[Route]:
    return [r for r in route_list() if case_for(r) is None]
