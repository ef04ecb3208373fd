"""Cells a spreadsheet could run as formulas: quoted on the way out (exports), the quote taken off
again on the way in (imports), so an exported file imports back as it was."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """Text that could start a formula in a spreadsheet: such a cell starts with a quote."""
    return f"'{value}" if value[:1] in FORMULA_STARTS else value


def spreadsheet_unquoted(value: str) -> str:
    """A cell as `spreadsheet_safe` was given it (the quote it added taken off)."""
    return value[1:] if value[:1] == "'" and value[1:2] and value[1:2] in FORMULA_STARTS else value
