from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People, roles and API clients"

    def ready(self) -> None:
        from accounts import schema, signals  # noqa: F401  (OpenAPI auth, login audit)
