from django.apps import AppConfig

from accounts.navigation import NavigationEntry
from accounts.roles import Role
from accounts.users.memberships import MembershipKind


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"
    navigation = (
        NavigationEntry("My work", "labeling:my_work", (Role.ANNOTATOR, Role.REVIEWER), 10),
        NavigationEntry("Campaigns", "labeling:campaign_list", (Role.RESEARCHER, Role.ADMIN), 20),
        NavigationEntry("Review", "labeling:review_queue", (Role.REVIEWER, Role.ADMIN), 30),
        # Reviewers and admins reach the resolved reviews from the review queue's tabs.
        NavigationEntry("Resolved reviews", "labeling:resolved_reviews", (Role.RESEARCHER,), 35),
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
    # The user pages set campaign memberships; an open-to-all campaign needs none.
    user_memberships = (
        MembershipKind(
            key="campaigns",
            label="Campaigns",
            model="labeling.Campaign",
            field="members",
            ordering=("name",),
            note="Annotators work in campaigns open to every annotator and in those they are "
            "members of.",
        ),
    )
    start_pages = {
        Role.ADMIN: "labeling:campaign_list",
        Role.RESEARCHER: "labeling:campaign_list",
        Role.REVIEWER: "labeling:review_queue",
        Role.ANNOTATOR: "labeling:my_work",
    }
