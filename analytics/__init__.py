"""Analytics: conversation KPIs and customer models (segments, demand, churn, CLV, recommendations).

Reads the CRM through ``crm_connector`` and the Rasa tracker store; imports no entry point.
Each module exports its public API here.
"""

from analytics.artifacts import Artifact, latest_artifact_path, load_artifact, save_artifact
from analytics.errors import AnalyticsError, ArtifactError, InvalidInputData, NotEnoughData
from analytics.settings import AnalyticsSettings

__all__ = [
    "AnalyticsError", "AnalyticsSettings", "Artifact", "ArtifactError", "InvalidInputData",
    "NotEnoughData", "latest_artifact_path", "load_artifact", "save_artifact",
]
