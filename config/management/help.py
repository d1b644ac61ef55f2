"""``--help`` of the operations commands: the description keeps its paragraphs (argparse would run them together)."""
from __future__ import annotations

import textwrap

from django.core.management.base import DjangoHelpFormatter


class ParagraphHelpFormatter(DjangoHelpFormatter):
    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            textwrap.fill(paragraph, width, initial_indent=indent, subsequent_indent=indent)
            for paragraph in text.split("\n\n")
        )
