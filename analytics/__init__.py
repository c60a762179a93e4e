"""Analytics: conversation KPIs and customer models (segments, demand, churn, CLV, recommendations).

Reads the CRM through ``crm_connector`` and the Rasa tracker store; imports no entry point.
Each module exports its public API here.
"""

from analytics.artifacts import Artifact, latest_artifact_path, load_artifact, save_artifact
from analytics.churn import (
    AtRiskCustomer,
    ChurnModel,
    ChurnReason,
    ChurnScore,
    churn_scores,
    customers_to_save,
    load_churn_model,
    train_churn,
)
from analytics.clv import (
    BgNbdParams,
    ClvModel,
    GammaGammaParams,
    clv_values,
    fit_bgnbd,
    fit_clv,
    fit_gamma_gamma,
    load_clv_model,
    predict_clv,
    rfm_summary,
)
from analytics.demand import (
    DemandReport,
    ProductDemand,
    backtest,
    crm_demand_report,
    demand_report,
    fit_demand_model,
    forecast,
    load_demand_model,
    save_demand_model,
    weekly_history,
    wape,
)
from analytics.errors import (
    AnalyticsError,
    ArtifactError,
    BrokerError,
    BrokerUnavailable,
    InvalidInputData,
    NotEnoughData,
)
from analytics.recommend import (
    PurchaseRecommender,
    Recommendation,
    best_sellers,
    fit_from_crm,
    load_recommender,
    recommend_for_customer,
    save_recommender,
)
from analytics.rfm import customer_features
from analytics.segments import (
    SegmentModel,
    SegmentProfile,
    assign_segments,
    load_segment_model,
    train_segments,
)
from analytics.settings import AnalyticsSettings
from analytics.transactions import read_transactions, sales_lines, transactions_from_crm

__all__ = [
    "AnalyticsError", "AnalyticsSettings", "Artifact", "ArtifactError", "BrokerError",
    "BrokerUnavailable", "InvalidInputData",
    "NotEnoughData", "latest_artifact_path", "load_artifact", "save_artifact",
]

# Customer models: segments, churn, lifetime value.
__all__ += [
    "AtRiskCustomer", "BgNbdParams", "ChurnModel", "ChurnReason", "ChurnScore", "ClvModel",
    "GammaGammaParams", "SegmentModel", "SegmentProfile", "assign_segments", "churn_scores",
    "clv_values", "customer_features", "customers_to_save", "fit_bgnbd", "fit_clv",
    "fit_gamma_gamma", "load_churn_model", "load_clv_model", "load_segment_model", "predict_clv",
    "rfm_summary", "train_churn", "train_segments",
]

# Conversation analytics: pipeline, KPIs, unanswered questions, sales, report, refresh, insights.
from analytics.gaps import GapSuggestion, find_gaps, suggest_gaps  # noqa: E402
from analytics.insights import customer_insights  # noqa: E402
from analytics.kpis import ConversationKpis, conversation_kpis, intent_trend, kpis_over_time  # noqa: E402
from analytics.pipeline import PipelineResult, run_pipeline  # noqa: E402
from analytics.redact import Redactor  # noqa: E402
from analytics.refresh import (  # noqa: E402
    Freshness,
    RefreshResult,
    data_freshness,
    refresh,
    refresh_every,
)
from analytics.report import collect_report, render_report, write_report  # noqa: E402
from analytics.sales import SalesSummary, revenue_over_time, sales_summary  # noqa: E402
from analytics.schema import upgrade_analytics  # noqa: E402

__all__ += [
    "ConversationKpis", "Freshness", "GapSuggestion", "PipelineResult", "Redactor",
    "RefreshResult", "SalesSummary", "collect_report", "conversation_kpis", "customer_insights",
    "data_freshness", "find_gaps", "intent_trend", "kpis_over_time", "refresh", "refresh_every",
    "render_report", "revenue_over_time", "run_pipeline", "sales_summary", "suggest_gaps",
    "upgrade_analytics", "write_report",
]

# Demand forecast, recommendations, and the purchase lines they read.
__all__ += [
    "DemandReport", "ProductDemand", "PurchaseRecommender", "Recommendation", "backtest",
    "best_sellers", "crm_demand_report", "demand_report", "fit_demand_model", "fit_from_crm",
    "forecast", "load_demand_model", "load_recommender", "read_transactions",
    "recommend_for_customer", "sales_lines", "save_demand_model", "save_recommender", "transactions_from_crm", "wape", "weekly_history",
]
