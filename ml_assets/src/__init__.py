"""Component sources. Modules import each other relatively (`from .schema import ...`)."""
