from django.apps import AppConfig


class ChecklistsConfig(AppConfig):
    name = "checklists"
    verbose_name = "Checklists and deployments"

    def ready(self):
        from checklists import checks  # noqa: F401  (registers the system checks)
