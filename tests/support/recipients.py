"""Recipient lists for tests: numbers that are valid Indian mobiles, and CSV files of them."""


def phone(n: int) -> str:
    return f"+9198{n:08d}"


def write_csv(path, header: str, rows) -> str:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        for row in rows:
            handle.write(row + "\n")
    return path
