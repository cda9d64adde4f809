from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    verbose_name = "Learning loop: retraining, shadow scoring, drift"

    def ready(self) -> None:
        # Task failure and lag metrics hang off Celery signals.
        from config import metrics

        metrics.connect_celery_signals()
        from learning import signals

        signals.connect()
