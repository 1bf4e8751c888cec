from django.apps import AppConfig

from accounts.navigation import NavigationEntry
from accounts.roles import Role


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"
    navigation = (
        NavigationEntry("My work", "labeling:my_work", (Role.ANNOTATOR, Role.REVIEWER), 10),
        NavigationEntry("Campaigns", "labeling:campaign_list", (Role.RESEARCHER, Role.ADMIN), 20),
        NavigationEntry("Review", "labeling:review_queue", (Role.REVIEWER, Role.ADMIN), 30),
        NavigationEntry(
            "Dashboards", "labeling:dashboards", (Role.RESEARCHER, Role.REVIEWER, Role.ADMIN), 40
        ),
        NavigationEntry(
            "Data browser",
            "labeling:browser_home",
            (Role.RESEARCHER, Role.REVIEWER, Role.ADMIN),
            42,
        ),
        NavigationEntry("Graders", "labeling:grader_list", (Role.RESEARCHER, Role.ADMIN), 45),
        NavigationEntry("Model endpoints", "labeling:endpoint_list", (Role.ADMIN,), 60),
    )
    start_pages = {
        Role.ADMIN: "labeling:campaign_list",
        Role.RESEARCHER: "labeling:campaign_list",
        Role.REVIEWER: "labeling:review_queue",
        Role.ANNOTATOR: "labeling:my_work",
    }
