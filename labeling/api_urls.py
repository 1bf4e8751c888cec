"""REST API routes of the labeling app (under /api/v1/), one module per area."""

from .api_urls_annotation import urlpatterns as annotation_patterns
from .api_urls_campaigns import urlpatterns as campaign_patterns
from .api_urls_quality import urlpatterns as quality_patterns

urlpatterns = [*campaign_patterns, *annotation_patterns, *quality_patterns]
