from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    verbose_name = "Learning loop: retraining, shadow scoring, drift"

    def ready(self) -> None:
        from learning import signals

        signals.connect()
