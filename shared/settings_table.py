"""The settings table of ``docs/settings.md``, rendered from the declarations :class:`shared.settings.Settings`
composes, in their order.

``python -m shared.settings_table`` prints it; a test keeps the page equal to it.
"""

from __future__ import annotations

from shared.settings import Settings


def settings_table() -> str:
    """Markdown: one row per setting with its default, its description and what it expects."""
    rows = ["| setting | default | description |", "| --- | --- | --- |"]
    for _, setting in Settings.all():
        rows.append(
            f"| `{setting.name}` | {setting.default_text()} | {setting.description} Expected: {setting.expected}. |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(settings_table(), end="")
