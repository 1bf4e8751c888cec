"""Pages of the labeling app, one module per area."""

from .urls_annotation import urlpatterns as annotation_patterns
from .urls_campaigns import urlpatterns as campaign_patterns
from .urls_quality import urlpatterns as quality_patterns

app_name = "labeling"
urlpatterns = [*campaign_patterns, *annotation_patterns, *quality_patterns]
